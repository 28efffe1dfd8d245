//! `gatehouse pool|user|group|audit …`: the admin API's directory for an operator on the
//! box, through the same domain calls (validated, transactional, audited with the actor
//! `cli`). Tables by default, the admin API's JSON with `--json`.

use accounts::store::{AccountCursor, AccountFilter, AuditFilter, PoolRecord};
use accounts::{AccountId, AccountStatus, AccountView, Actor, Email, NewUser, UserPatch};
use clap::Subcommand;
use serde::Serialize;

use super::find_pool;
use crate::state::AppState;

/// `--pool`, on every command below.
const DEFAULT_POOL: &str = "main";

#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// List pools.
    List,
    /// A pool's configuration and version.
    Show { name: String },
    /// Create a pool; --settings is a partial configuration as JSON (the rest takes
    /// defaults), e.g. '{"display_name":"Acme"}'.
    Create {
        name: String,
        #[arg(long)]
        settings: Option<String>,
    },
    /// Change a pool's configuration with a JSON merge patch (RFC 7396).
    Update {
        name: String,
        /// The patch, e.g. '{"display_name":"Acme"}'.
        #[arg(long)]
        patch: String,
        /// Refuse unless the stored version is this one.
        #[arg(long)]
        if_match: Option<i64>,
    },
    /// Delete a pool and everything in it (--force when it has accounts).
    Delete {
        name: String,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Search a pool's users (newest last), one page.
    List {
        #[arg(long, default_value = DEFAULT_POOL)]
        pool: String,
        /// A prefix of the email address.
        #[arg(long)]
        email: Option<String>,
        /// A wallet: CAIP-10 in any form, or a bare address.
        #[arg(long)]
        wallet: Option<String>,
        /// pending, active or disabled.
        #[arg(long)]
        status: Option<String>,
        /// Users per page, 1 to 500.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Where the page starts: the `next` a previous page printed.
        #[arg(long)]
        after: Option<String>,
    },
    /// A user with their credentials and live sessions.
    Show {
        sub: String,
        #[arg(long, default_value = DEFAULT_POOL)]
        pool: String,
    },
    /// Create a user: an email (an invitation with a code is mailed) and/or a wallet.
    Create {
        #[arg(long, default_value = DEFAULT_POOL)]
        pool: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        wallet: Option<String>,
        /// Mark the email verified now.
        #[arg(long)]
        verified: bool,
        /// Do not mail an invitation.
        #[arg(long)]
        no_invitation: bool,
    },
    /// Disable a user: every session ends, every sign-in is refused.
    Disable {
        sub: String,
        #[arg(long, default_value = DEFAULT_POOL)]
        pool: String,
    },
    /// Enable a disabled user.
    Enable {
        sub: String,
        #[arg(long, default_value = DEFAULT_POOL)]
        pool: String,
    },
    /// Delete a user (credentials, sessions, wallets, memberships; the audit stays).
    Delete {
        sub: String,
        #[arg(long, default_value = DEFAULT_POOL)]
        pool: String,
    },
    /// End every session of a user.
    SignOut {
        sub: String,
        #[arg(long, default_value = DEFAULT_POOL)]
        pool: String,
    },
    /// Mail a recovery code to the user's address.
    ResetPassword {
        sub: String,
        #[arg(long, default_value = DEFAULT_POOL)]
        pool: String,
    },
    /// Import accounts from NDJSON (one per line: email, email_verified, attributes,
    /// groups, wallets, password_hash in PHC or bcrypt form); refused lines are reported.
    Import {
        /// The file; `-` reads standard input.
        file: std::path::PathBuf,
        #[arg(long, default_value = DEFAULT_POOL)]
        pool: String,
        /// The first line to read: resume an import cut short.
        #[arg(long, default_value_t = 1)]
        from_line: u64,
    },
    /// Export the pool's accounts as NDJSON, in the form `import` reads.
    Export {
        #[arg(long, default_value = DEFAULT_POOL)]
        pool: String,
        /// Include password hashes (treat the file as a secret).
        #[arg(long)]
        with_hashes: bool,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List a pool's groups.
    List {
        #[arg(long, default_value = DEFAULT_POOL)]
        pool: String,
    },
    /// Create a group (lower precedence comes first in the groups claim).
    Create {
        name: String,
        #[arg(long, default_value = DEFAULT_POOL)]
        pool: String,
        #[arg(long, default_value_t = 0)]
        precedence: i64,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete a group and its memberships.
    Delete {
        name: String,
        #[arg(long, default_value = DEFAULT_POOL)]
        pool: String,
    },
    /// Add a user to a group.
    Add {
        name: String,
        sub: String,
        #[arg(long, default_value = DEFAULT_POOL)]
        pool: String,
    },
    /// Remove a user from a group.
    Remove {
        name: String,
        sub: String,
        #[arg(long, default_value = DEFAULT_POOL)]
        pool: String,
    },
    /// A group's members (subs).
    Members {
        name: String,
        #[arg(long, default_value = DEFAULT_POOL)]
        pool: String,
    },
}

/// `gatehouse audit`: a pool's audit events, newest first.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[arg(long, default_value = DEFAULT_POOL)]
    pool: String,
    /// Only this user's events.
    #[arg(long)]
    sub: Option<String>,
    /// Only events of this kind (e.g. sign_in_failed).
    #[arg(long)]
    kind: Option<String>,
    /// From this time on (Unix seconds).
    #[arg(long)]
    since: Option<i64>,
    /// Before this time (Unix seconds).
    #[arg(long)]
    until: Option<i64>,
    /// How many events, at most.
    #[arg(long, default_value_t = 100)]
    limit: i64,
}

pub(super) fn print_json(v: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Rows under a header, columns separated by tabs (for `column -t` or a spreadsheet).
pub(super) fn print_table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    println!("{}", header.join("\t"));
    for row in rows {
        println!("{}", row.join("\t"));
    }
}

fn sub(s: &str) -> anyhow::Result<AccountId> {
    AccountId::parse(s).ok_or_else(|| anyhow::anyhow!("{s} is not a user id (a UUID)"))
}

fn user_row(u: &AccountView) -> Vec<String> {
    vec![
        u.sub.to_string(),
        u.status.as_str().to_string(),
        u.email.clone().unwrap_or_else(|| "-".into()),
        u.wallets.first().map_or("-".into(), ToString::to_string),
        u.groups.join(","),
        u.created_at.to_string(),
    ]
}

const USER_HEADER: &[&str] = &["sub", "status", "email", "wallet", "groups", "created_at"];

fn pool_row(p: &PoolRecord) -> Vec<String> {
    vec![
        p.name.clone(),
        p.config.display_name.clone(),
        p.version.to_string(),
        p.created_at.to_string(),
    ]
}

pub async fn run_pool(state: &AppState, command: &PoolCommand, json: bool) -> anyhow::Result<()> {
    let now = state.clock.now();
    let users = &state.users;
    let show = |p: &PoolRecord| -> anyhow::Result<()> {
        if json {
            print_json(&serde_json::json!({
                "name": p.name, "issuer": state.config.issuer(&p.name), "config": p.config,
                "version": p.version, "created_at": p.created_at, "updated_at": p.updated_at,
            }))
        } else {
            print_table(
                &["name", "display_name", "version", "created_at"],
                [pool_row(p)],
            );
            Ok(())
        }
    };
    match command {
        PoolCommand::List => {
            let mut all = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = users.list_pools(after.as_deref(), 200).await?;
                let Some(last) = page.last() else { break };
                after = Some(last.name.clone());
                all.extend(page);
            }
            if json {
                let views: Vec<_> = all
                    .iter()
                    .map(|p| {
                        serde_json::json!({
                            "name": p.name, "issuer": state.config.issuer(&p.name),
                            "config": p.config, "version": p.version,
                            "created_at": p.created_at, "updated_at": p.updated_at,
                        })
                    })
                    .collect();
                print_json(&views)?;
            } else {
                print_table(
                    &["name", "display_name", "version", "created_at"],
                    all.iter().map(pool_row),
                );
            }
        }
        PoolCommand::Show { name } => {
            show(&users.fresh_pool(find_pool(state, name).await?.id).await?)?
        }
        PoolCommand::Create { name, settings } => {
            let config = settings.as_deref().map(serde_json::from_str).transpose()?;
            let pool = users.create_pool(name, config, &Actor::Cli, now).await?;
            state.keys.ensure(&pool, now).await?;
            show(&pool)?;
        }
        PoolCommand::Update {
            name,
            patch,
            if_match,
        } => {
            let pool = find_pool(state, name).await?;
            let patch: serde_json::Value = serde_json::from_str(patch)?;
            show(
                &users
                    .update_pool(pool.id, &patch, *if_match, &Actor::Cli, now)
                    .await?,
            )?;
        }
        PoolCommand::Delete { name, force } => {
            let pool = find_pool(state, name).await?;
            users.delete_pool(&pool, *force, &Actor::Cli, now).await?;
            println!("deleted pool {name}");
        }
    }
    Ok(())
}

pub async fn run_user(state: &AppState, command: &UserCommand, json: bool) -> anyhow::Result<()> {
    let now = state.clock.now();
    let users = &state.users;
    let show = |u: &AccountView| -> anyhow::Result<()> {
        if json {
            print_json(u)
        } else {
            print_table(USER_HEADER, [user_row(u)]);
            Ok(())
        }
    };
    match command {
        UserCommand::List {
            pool,
            email,
            wallet,
            status,
            limit,
            after,
        } => {
            let pool = find_pool(state, pool).await?;
            let status = status
                .as_deref()
                .map(|s| {
                    AccountStatus::parse(s)
                        .ok_or_else(|| anyhow::anyhow!("status: pending, active or disabled"))
                })
                .transpose()?;
            let wallet_key = wallet
                .as_deref()
                .map(accounts::parse_wallet)
                .transpose()?
                .map(|w| w.address.key());
            let filter = AccountFilter {
                email_prefix: email
                    .as_deref()
                    .map(Email::search_prefix)
                    .filter(|p| !p.is_empty()),
                wallet_key,
                status,
                ..Default::default()
            };
            let after = after
                .as_deref()
                .map(|a| {
                    let (t, id) = a
                        .split_once('.')
                        .ok_or_else(|| anyhow::anyhow!("--after: CREATED_AT.SUB"))?;
                    Ok::<_, anyhow::Error>(AccountCursor {
                        created_at: t.parse()?,
                        id: sub(id)?,
                    })
                })
                .transpose()?;
            let limit = (*limit).clamp(1, 500);
            let mut page = users.search_users(&pool, &filter, after, limit + 1).await?;
            let more = page.len() as i64 > limit;
            page.truncate(limit as usize);
            let next = more
                .then(|| page.last().map(|u| format!("{}.{}", u.created_at, u.sub)))
                .flatten();
            if json {
                print_json(&serde_json::json!({ "users": page, "next": next }))?;
            } else {
                print_table(USER_HEADER, page.iter().map(user_row));
                if let Some(n) = next {
                    eprintln!("more: --after {n}");
                }
            }
        }
        UserCommand::Show { sub: s, pool } => {
            let pool = find_pool(state, pool).await?;
            let (user, sessions) = users.user_with_sessions(&pool, sub(s)?, now).await?;
            if json {
                let sessions: Vec<_> = sessions
                    .iter()
                    .map(|s| accounts::SessionView::of(s, None))
                    .collect();
                print_json(&serde_json::json!({ "user": user, "sessions": sessions }))?;
            } else {
                show(&user)?;
                println!("{} live session(s)", sessions.len());
            }
        }
        UserCommand::Create {
            pool,
            email,
            wallet,
            verified,
            no_invitation,
        } => {
            let pool = find_pool(state, pool).await?;
            let req = NewUser {
                email: email.clone(),
                email_verified: *verified,
                wallet: wallet.clone(),
                send_invitation: Some(!no_invitation),
                ..Default::default()
            };
            show(&users.create_user(&pool, req, &Actor::Cli, now).await?)?;
        }
        UserCommand::Disable { sub: s, pool } | UserCommand::Enable { sub: s, pool } => {
            let pool = find_pool(state, pool).await?;
            let status = match command {
                UserCommand::Disable { .. } => AccountStatus::Disabled,
                _ => AccountStatus::Active,
            };
            let patch = UserPatch {
                status: Some(status),
                ..Default::default()
            };
            show(
                &users
                    .patch_user(&pool, sub(s)?, patch, &Actor::Cli, now)
                    .await?,
            )?;
        }
        UserCommand::Delete { sub: s, pool } => {
            let pool = find_pool(state, pool).await?;
            users.delete_user(&pool, sub(s)?, &Actor::Cli, now).await?;
            println!("deleted user {s}");
        }
        UserCommand::SignOut { sub: s, pool } => {
            let pool = find_pool(state, pool).await?;
            let n = users
                .sign_out_user(&pool, sub(s)?, &Actor::Cli, now)
                .await?;
            println!("ended {n} session(s)");
        }
        UserCommand::ResetPassword { sub: s, pool } => {
            let pool = find_pool(state, pool).await?;
            users
                .reset_user_password(&pool, sub(s)?, &Actor::Cli, now)
                .await?;
            println!("a recovery code is queued for the user's address");
        }
        UserCommand::Import {
            file,
            pool,
            from_line,
        } => super::transfer::import(state, pool, file, *from_line).await?,
        UserCommand::Export {
            pool,
            with_hashes,
            out,
        } => super::transfer::export(state, pool, *with_hashes, out.as_deref()).await?,
    }
    Ok(())
}

pub async fn run_group(state: &AppState, command: &GroupCommand, json: bool) -> anyhow::Result<()> {
    let now = state.clock.now();
    let users = &state.users;
    match command {
        GroupCommand::List { pool } => {
            let pool = find_pool(state, pool).await?;
            let mut groups = Vec::new();
            loop {
                let after = groups
                    .last()
                    .map(|g: &accounts::store::GroupRecord| g.name.clone());
                let page = users.list_groups(&pool, after.as_deref(), 500).await?;
                if page.is_empty() {
                    break;
                }
                groups.extend(page);
            }
            if json {
                let out: Vec<_> = groups
                    .iter()
                    .map(|g| serde_json::json!({ "name": g.name, "description": g.description, "precedence": g.precedence }))
                    .collect();
                print_json(&out)?;
            } else {
                print_table(
                    &["name", "precedence", "description"],
                    groups.iter().map(|g| {
                        vec![
                            g.name.clone(),
                            g.precedence.to_string(),
                            g.description.clone(),
                        ]
                    }),
                );
            }
        }
        GroupCommand::Create {
            name,
            pool,
            precedence,
            description,
        } => {
            let pool = find_pool(state, pool).await?;
            let req = accounts::GroupChange {
                name: Some(name.clone()),
                description: Some(description.clone()),
                precedence: Some(*precedence),
            };
            users.create_group(&pool, req, &Actor::Cli, now).await?;
            println!("created group {name}");
        }
        GroupCommand::Delete { name, pool } => {
            let pool = find_pool(state, pool).await?;
            users.delete_group(&pool, name, &Actor::Cli, now).await?;
            println!("deleted group {name}");
        }
        GroupCommand::Add { name, sub: s, pool } => {
            let pool = find_pool(state, pool).await?;
            users
                .add_group_member(&pool, name, sub(s)?, &Actor::Cli, now)
                .await?;
            println!("{s} is in {name}");
        }
        GroupCommand::Remove { name, sub: s, pool } => {
            let pool = find_pool(state, pool).await?;
            users
                .remove_group_member(&pool, name, sub(s)?, &Actor::Cli, now)
                .await?;
            println!("{s} left {name}");
        }
        GroupCommand::Members { name, pool } => {
            let pool = find_pool(state, pool).await?;
            let mut all = Vec::new();
            let mut after = None;
            loop {
                let page = users.list_group_members(&pool, name, after, 500).await?;
                let Some(last) = page.last().copied() else {
                    break;
                };
                after = Some(last);
                all.extend(page);
            }
            if json {
                print_json(&all)?;
            } else {
                print_table(&["sub"], all.iter().map(|s| vec![s.to_string()]));
            }
        }
    }
    Ok(())
}

pub async fn run_audit(state: &AppState, args: &AuditArgs, json: bool) -> anyhow::Result<()> {
    let pool = find_pool(state, &args.pool).await?;
    let filter = AuditFilter {
        account: args.sub.as_deref().map(sub).transpose()?,
        kind: args.kind.clone(),
        since: args.since,
        until: args.until,
    };
    let mut left = args.limit.max(0);
    let mut before = None;
    if !json {
        println!("id\tcreated_at\tsub\tkind\tdetail");
    }
    while left > 0 {
        let page = state
            .users
            .audit_page(&pool, &filter, before, left.min(500))
            .await?;
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        left -= page.len() as i64;
        for e in &page {
            if json {
                // One event per line (NDJSON), as the admin API streams them.
                println!("{}", serde_json::to_string(e)?);
            } else {
                let sub = e.sub.map_or("-".into(), |s| s.to_string());
                println!(
                    "{}\t{}\t{sub}\t{}\t{}",
                    e.id, e.created_at, e.kind, e.detail
                );
            }
        }
    }
    Ok(())
}
