//! The `gatehouse` command line: `serve` (the default), `migrate`, `keys rotate|list`.

use clap::{Parser, Subcommand};
use std::collections::HashMap;
use std::path::PathBuf;

use crate::clock::Clock;
use crate::config::Config;
use crate::keys::{DEFAULT_ACTIVATION_DELAY, KeyRing};
use crate::state::{self, AppState};

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Identity gateway for apps with Web2 and Web3 users"
)]
pub struct Cli {
    /// TOML config file; GATEHOUSE_* environment variables override it.
    #[arg(long, global = true, env = "GATEHOUSE_CONFIG")]
    pub config: Option<PathBuf>,
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
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Publish new ES256 and RS256 keys now; they sign after --activate-in seconds, and the
    /// old keys stay in the JWKS until every token they signed has expired.
    Rotate {
        #[arg(long)]
        pool: String,
        #[arg(long, default_value_t = DEFAULT_ACTIVATION_DELAY)]
        activate_in: i64,
    },
    /// List a pool's keys.
    List {
        #[arg(long)]
        pool: String,
    },
}

impl Cli {
    pub fn config(&self) -> anyhow::Result<Config> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Ok(Config::load(self.config.as_deref(), &env)?)
    }
}

/// Runs a command other than `serve`, printing its result.
pub async fn run_admin(command: &Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => anyhow::bail!("serve is run by main"),
        Command::Migrate => {
            state::open_store(&config).await?;
            println!("migrations applied to {}", redact_url(&config.database_url));
        }
        Command::Keys { command } => {
            let state = AppState::build(config, Clock::default()).await?;
            let pool_name = match command {
                KeysCommand::Rotate { pool, .. } | KeysCommand::List { pool } => pool,
            };
            let now = state.clock.now();
            let pool = state
                .store
                .find_pool_by_name(pool_name)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no pool named {pool_name}"))?;
            let ring: &KeyRing = &state.keys;
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
