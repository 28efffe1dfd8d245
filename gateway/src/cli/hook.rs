//! `gatehouse hook`: a pool's hooks, as the admin API manages them. Configurations are
//! JSON (the admin API's fields) read from a file or standard input; the signing secret is
//! printed once, by `add` and `rotate`.

use accounts::Actor;
use clap::Subcommand;
use serde_json::Value;
use std::path::PathBuf;

use super::directory::{print_json, print_table};
use super::find_pool;
use super::idp::read_object;
use crate::state::AppState;

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// List a pool's hooks (never their secrets).
    List {
        #[arg(long, default_value = "main")]
        pool: String,
    },
    /// Add a hook: NAME, and its configuration as JSON (`trigger`, `url`, `timeout_ms`,
    /// `failure_policy`, `clients`, `methods`) from FILE, `-` for standard input. Prints
    /// the signing secret, once.
    Add {
        name: String,
        #[arg(long, default_value = "main")]
        pool: String,
        #[arg(long = "from")]
        from: PathBuf,
    },
    /// Change a hook: a JSON merge patch from FILE (`-`: standard input).
    Update {
        name: String,
        #[arg(long, default_value = "main")]
        pool: String,
        #[arg(long = "from")]
        from: PathBuf,
    },
    /// A new signing secret, printed once; the previous one signs too for the overlap.
    Rotate {
        name: String,
        #[arg(long, default_value = "main")]
        pool: String,
        /// Seconds the previous secret keeps signing (default a day; 0 ends it now).
        #[arg(long)]
        overlap_seconds: Option<i64>,
    },
    /// Delete a hook.
    Remove {
        name: String,
        #[arg(long, default_value = "main")]
        pool: String,
    },
}

pub async fn run_hook(state: &AppState, command: &HookCommand, json: bool) -> anyhow::Result<()> {
    let (HookCommand::List { pool }
    | HookCommand::Add { pool, .. }
    | HookCommand::Update { pool, .. }
    | HookCommand::Rotate { pool, .. }
    | HookCommand::Remove { pool, .. }) = command;
    let pool = find_pool(state, pool).await?;
    let now = state.clock.now();
    let users = &state.users;
    match command {
        HookCommand::List { .. } => {
            let views = users.hooks(&pool).await?;
            if json {
                return print_json(&views);
            }
            print_table(
                &["name", "trigger", "url", "enabled", "timeout_ms"],
                views.iter().map(|v| {
                    vec![
                        v.name.clone(),
                        v.config.trigger.as_str().to_string(),
                        v.config.url.clone(),
                        v.config.enabled.to_string(),
                        v.config.timeout_ms.to_string(),
                    ]
                }),
            );
        }
        HookCommand::Add { name, from, .. } => {
            let mut input = read_object(from)?;
            input.insert("name".into(), Value::String(name.clone()));
            print_json(&users.create_hook(&pool, input, &Actor::Cli, now).await?)?;
        }
        HookCommand::Update { name, from, .. } => {
            let patch = read_object(from)?;
            print_json(
                &users
                    .update_hook(&pool, name, patch, &Actor::Cli, now)
                    .await?,
            )?;
        }
        HookCommand::Rotate {
            name,
            overlap_seconds,
            ..
        } => {
            let view = users
                .rotate_hook_secret(&pool, name, *overlap_seconds, &Actor::Cli, now)
                .await?;
            print_json(&view)?;
        }
        HookCommand::Remove { name, .. } => {
            users.delete_hook(&pool, name, &Actor::Cli, now).await?;
            println!("deleted {name}");
        }
    }
    Ok(())
}
