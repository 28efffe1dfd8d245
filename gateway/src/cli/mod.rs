//! The `gatehouse` command line: `serve` (the default), `migrate`, `keys rotate|list`,
//! `client create|list|delete`, `idp list|add|update|remove`, `hook
//! list|add|update|rotate|remove`, and the directory: `pool`,
//! `user`, `group`, `audit`.

mod directory;
mod hook;
mod idp;
mod transfer;

pub use idp::IdpCommand;

use clap::{Parser, Subcommand};
use std::collections::HashMap;
use std::path::PathBuf;

use crate::clock::Clock;
use crate::config::Config;
use crate::keys::{DEFAULT_ACTIVATION_DELAY, KeyRing};
use crate::state::{self, AppState};

/// The settings, as `gatehouse --help` lists them (docs/operations.md has the details).
const ENVIRONMENT: &str = "\
Environment (each overrides the config file; with none set, `serve` runs on the embedded
default: SQLite in ./gatehouse-data, in-process stores, mail to the log):
  GATEHOUSE_LISTEN              address to bind, IP:PORT [127.0.0.1:8080]
  GATEHOUSE_PUBLIC_URL          base URL of every issuer and link [http:// + the listen address]
  GATEHOUSE_DATA_DIR            SQLite file and generated master key [./gatehouse-data]
  DATABASE_URL                  sqlite://PATH or postgres://USER:PASSWORD@HOST/DB
  REDIS_URL                     redis://HOST:PORT, redis+cluster://H:P,H:P or
                                redis+sentinel://H:P/SERVICE: nonces, limits, codes
                                [in-process]
  GATEHOUSE_REDIS_WAIT_REPLICAS replicas that confirm a take or count [1 with Cluster
                                or Sentinel, else 0]
  GATEHOUSE_MAX_IN_FLIGHT       requests worked on at once; more answer 503 [512]
  GATEHOUSE_SMTP_URL            smtp://host:port or smtps://user:pass@host [mail to the log]
  GATEHOUSE_SMTP_FROM           sender address [Gatehouse <no-reply@public host>]
  GATEHOUSE_MASTER_KEY          32 bytes, hex or base64; required with PostgreSQL
  GATEHOUSE_ADMIN_TOKEN         bearer token of the admin API [admin API off]
  GATEHOUSE_METRICS_TOKEN       bearer token /metrics asks for [/metrics open]
  GATEHOUSE_RPC_URLS            JSON-RPC per chain: 1=https://...,31337=http://127.0.0.1:8545
  GATEHOUSE_RPC_TIMEOUT_MS      each JSON-RPC call, milliseconds [5000]
  GATEHOUSE_FEDERATION_TIMEOUT_MS  each call to an upstream IdP, milliseconds [5000]
  GATEHOUSE_TRUST_PROXY         client address from X-Forwarded-For: true/false [false]
  GATEHOUSE_MAIL_POLL_MS        outbox poll interval, milliseconds [1000]
  GATEHOUSE_RETENTION_DAYS      days expired rows are kept before the purge [7]
  GATEHOUSE_AUDIT_RETENTION_DAYS  days audit events are kept, 0 for ever [365]
  GATEHOUSE_S3_ENDPOINT, _REGION, _BUCKET, _ACCESS_KEY_ID, _SECRET_ACCESS_KEY, _PATH_STYLE
                                the S3-compatible store for storage grants [storage off]
  GATEHOUSE_LOG_FORMAT          text or json (one object per line, with the request id) [text]
  RUST_LOG                      log filter [info,sqlx=warn]";

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Identity gateway for apps with Web2 and Web3 users",
    after_help = ENVIRONMENT
)]
pub struct Cli {
    /// TOML config file; GATEHOUSE_* environment variables override it.
    #[arg(long, global = true, env = "GATEHOUSE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the admin API's JSON instead of a table (pool, user, group, audit).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage a pool's signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage a pool's app clients (OAuth 2.0 clients); prints JSON as the admin API does.
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Manage pools: list, show, create, update (JSON merge patch), delete.
    Pool {
        #[command(subcommand)]
        command: directory::PoolCommand,
    },
    /// Manage a pool's users: list (search), show, create, disable, enable, delete, sign-out,
    /// reset-password.
    User {
        #[command(subcommand)]
        command: directory::UserCommand,
    },
    /// Manage a pool's groups and their members.
    Group {
        #[command(subcommand)]
        command: directory::GroupCommand,
    },
    /// Read a pool's audit log, newest first.
    Audit(directory::AuditArgs),
    /// Manage a pool's upstream identity providers (OIDC, OAuth 2.0; presets for Google,
    /// Microsoft, Apple and GitHub).
    Idp {
        #[command(subcommand)]
        command: idp::IdpCommand,
    },
    /// Manage a pool's hooks (Cognito's triggers): pre_sign_up, post_confirmation,
    /// pre_authentication, post_authentication, pre_token, custom_message, user_migration.
    Hook {
        #[command(subcommand)]
        command: hook::HookCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; a confidential client's secret is printed once.
    Create {
        /// The pool's name.
        #[arg(long, default_value = "main")]
        pool: String,
        /// A name for people (shown to operators, never to users).
        #[arg(long)]
        name: String,
        /// Exact redirect URI (repeat for several).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A public client (SPA, native app): no secret, PKCE required.
        #[arg(long)]
        public: bool,
        /// authorization_code, refresh_token, client_credentials (repeat; default: the first two).
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// Allowed scope (repeat; default: openid email profile offline_access).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Where RP-initiated logout may send the browser back to (repeat for several).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// ES256 (default) or RS256.
        #[arg(long)]
        id_token_alg: Option<String>,
    },
    /// List a pool's clients (never their secrets).
    List {
        /// The pool's name.
        #[arg(long, default_value = "main")]
        pool: String,
    },
    /// Delete a client; its sessions end with it.
    Delete {
        /// The pool's name.
        #[arg(long, default_value = "main")]
        pool: String,
        /// The client's id, as `client create` printed it.
        #[arg(long)]
        client_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Publish new ES256 and RS256 keys now; they sign after --activate-in seconds, and the
    /// old keys stay in the JWKS until every token they signed has expired.
    Rotate {
        /// The pool's name.
        #[arg(long, default_value = "main")]
        pool: String,
        /// Seconds before the new keys start signing (longer than the JWKS cache time).
        #[arg(long, default_value_t = DEFAULT_ACTIVATION_DELAY)]
        activate_in: i64,
    },
    /// List a pool's keys.
    List {
        /// The pool's name.
        #[arg(long, default_value = "main")]
        pool: String,
    },
    /// Revoke a key at once (a key that leaked): it leaves the JWKS, tokens it signed are
    /// refused everywhere within 30 s, and a live key is replaced by one that signs now.
    Revoke {
        /// The pool's name.
        #[arg(long, default_value = "main")]
        pool: String,
        /// The key's id (`kid`), as `keys list` shows it.
        kid: String,
    },
}

impl Cli {
    pub fn config(&self) -> anyhow::Result<Config> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Ok(Config::load(self.config.as_deref(), &env)?)
    }
}

/// Runs a command other than `serve`, printing its result.
pub async fn run_admin(command: &Command, config: Config, json: bool) -> anyhow::Result<()> {
    match command {
        Command::Pool { command } => {
            let state = AppState::build(config, Clock::default()).await?;
            directory::run_pool(&state, command, json).await?;
        }
        Command::User { command } => {
            let state = AppState::build(config, Clock::default()).await?;
            directory::run_user(&state, command, json).await?;
        }
        Command::Group { command } => {
            let state = AppState::build(config, Clock::default()).await?;
            directory::run_group(&state, command, json).await?;
        }
        Command::Idp { command } => {
            let state = AppState::build(config, Clock::default()).await?;
            idp::run_idp(&state, command, json).await?;
        }
        Command::Hook { command } => {
            let state = AppState::build(config, Clock::default()).await?;
            hook::run_hook(&state, command, json).await?;
        }
        Command::Audit(args) => {
            let state = AppState::build(config, Clock::default()).await?;
            directory::run_audit(&state, args, json).await?;
        }
        Command::Serve => anyhow::bail!("serve is run by main"),
        Command::Migrate => {
            state::open_store(&config).await?;
            println!("migrations applied to {}", redact_url(&config.database_url));
        }
        Command::Client { command } => run_client(command, config).await?,
        Command::Keys { command } => {
            let state = AppState::build(config, Clock::default()).await?;
            let pool_name = match command {
                KeysCommand::Rotate { pool, .. }
                | KeysCommand::List { pool }
                | KeysCommand::Revoke { pool, .. } => pool,
            };
            let now = state.clock.now();
            let pool = find_pool(&state, pool_name).await?;
            let ring: &KeyRing = &state.keys;
            if let KeysCommand::Revoke { kid, .. } = command {
                let actor = serde_json::json!("cli");
                if !ring.revoke(&pool, kid, &actor, now).await? {
                    anyhow::bail!("the pool {} has no live key {kid}", pool.name);
                }
                println!("revoked {kid}");
            }
            if let KeysCommand::Rotate { activate_in, .. } = command {
                let kids = ring.rotate(&pool, *activate_in, now).await?;
                println!(
                    "published {} (signing from {} seconds from now)",
                    kids.join(", "),
                    activate_in.max(&0)
                );
            }
            for k in state.store.list_signing_keys(pool.id).await? {
                let retires = k.retires_at.map_or("-".to_string(), |r| r.to_string());
                println!(
                    "{}\t{}\tactivates_at={}\tretires_at={}",
                    k.kid, k.alg, k.activates_at, retires
                );
            }
        }
    }
    Ok(())
}

async fn find_pool(state: &AppState, name: &str) -> anyhow::Result<accounts::store::PoolRecord> {
    state
        .store
        .find_pool_by_name(name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no pool named {name}"))
}

async fn run_client(command: &ClientCommand, config: Config) -> anyhow::Result<()> {
    let state = AppState::build(config, Clock::default()).await?;
    let pool_name = match command {
        ClientCommand::Create { pool, .. }
        | ClientCommand::List { pool }
        | ClientCommand::Delete { pool, .. } => pool,
    };
    let now = state.clock.now();
    let pool = find_pool(&state, pool_name).await?;
    match command {
        ClientCommand::Create {
            name,
            redirect_uris,
            public,
            grant_types,
            scopes,
            post_logout_redirect_uris,
            id_token_alg,
            ..
        } => {
            let req = accounts::clients::NewClient {
                name: name.clone(),
                redirect_uris: redirect_uris.clone(),
                public: *public,
                grant_types: (!grant_types.is_empty()).then(|| grant_types.clone()),
                scopes: (!scopes.is_empty()).then(|| scopes.clone()),
                post_logout_redirect_uris: post_logout_redirect_uris.clone(),
                id_token_signed_response_alg: id_token_alg.clone(),
                ..Default::default()
            };
            let (client, secret) = state
                .users
                .create_client(&pool, req, &accounts::Actor::Cli, now)
                .await?;
            let out = accounts::clients::CreatedClient {
                client: client.view(),
                client_secret: secret.map(|s| s.expose().to_string()),
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        ClientCommand::List { .. } => {
            let clients = state.users.list_clients(&pool).await?;
            let views: Vec<_> = clients.iter().map(|c| c.view()).collect();
            println!("{}", serde_json::to_string_pretty(&views)?);
        }
        ClientCommand::Delete { client_id, .. } => {
            state
                .users
                .delete_client(&pool, client_id, &accounts::Actor::Cli, now)
                .await?;
            println!("deleted {client_id}");
        }
    }
    Ok(())
}

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command's arguments are consistent (no two with one name, a global one
    /// included), which clap checks only when a command is run.
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
