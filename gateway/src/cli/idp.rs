//! `gatehouse idp`: a pool's upstream identity providers, as the admin API manages them.
//! Configurations are JSON (the admin API's fields) read from a file or standard input, so
//! secrets never sit on a command line; they are sealed and never printed.

use accounts::Actor;
use clap::Subcommand;
use serde_json::{Map, Value};
use std::io::Read;
use std::path::PathBuf;

use super::directory::{print_json, print_table};
use super::find_pool;
use crate::flows::federation::redirect_uri;
use crate::state::AppState;

#[derive(Debug, Subcommand)]
pub enum IdpCommand {
    /// List a pool's IdPs (never their secrets).
    List {
        #[arg(long, default_value = "main")]
        pool: String,
    },
    /// Add an IdP: NAME, and its configuration as JSON (`preset` or `kind`, `client_id`,
    /// `client_secret` or `private_key`…) from FILE, `-` for standard input.
    Add {
        name: String,
        #[arg(long, default_value = "main")]
        pool: String,
        /// The configuration's JSON; `-` reads standard input.
        #[arg(long = "from")]
        from: PathBuf,
    },
    /// Change an IdP: a JSON merge patch from FILE (`-`: standard input).
    Update {
        name: String,
        #[arg(long, default_value = "main")]
        pool: String,
        #[arg(long = "from")]
        from: PathBuf,
    },
    /// Delete an IdP no account signs in with.
    Remove {
        name: String,
        #[arg(long, default_value = "main")]
        pool: String,
    },
}

pub(super) fn read_object(from: &PathBuf) -> anyhow::Result<Map<String, Value>> {
    let mut text = String::new();
    if from.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(from)?;
    }
    match serde_json::from_str(&text)? {
        Value::Object(m) => Ok(m),
        _ => anyhow::bail!("the configuration is a JSON object"),
    }
}

pub async fn run_idp(state: &AppState, command: &IdpCommand, json: bool) -> anyhow::Result<()> {
    let (IdpCommand::List { pool }
    | IdpCommand::Add { pool, .. }
    | IdpCommand::Update { pool, .. }
    | IdpCommand::Remove { pool, .. }) = command;
    let pool = find_pool(state, pool).await?;
    let now = state.clock.now();
    let users = &state.users;
    let show = |idp: accounts::store::IdpRecord| {
        let uri = redirect_uri(state, &pool, &idp.name);
        users.idp_view(idp, uri)
    };
    match command {
        IdpCommand::List { .. } => {
            let views = users
                .identity_providers(&pool)
                .await?
                .into_iter()
                .map(show)
                .collect::<Result<Vec<_>, _>>()?;
            if json {
                return print_json(&views);
            }
            print_table(
                &["name", "kind", "display_name", "enabled", "redirect_uri"],
                views.iter().map(|v| {
                    vec![
                        v.name.clone(),
                        format!("{:?}", v.config.kind).to_lowercase(),
                        v.config.display_name.clone(),
                        v.config.enabled.to_string(),
                        v.redirect_uri.clone(),
                    ]
                }),
            );
        }
        IdpCommand::Add { name, from, .. } => {
            let mut input = read_object(from)?;
            input.insert("name".into(), Value::String(name.clone()));
            let idp = users.create_idp(&pool, input, &Actor::Cli, now).await?;
            print_json(&show(idp)?)?;
        }
        IdpCommand::Update { name, from, .. } => {
            let patch = read_object(from)?;
            let idp = users
                .update_idp(&pool, name, patch, &Actor::Cli, now)
                .await?;
            print_json(&show(idp)?)?;
        }
        IdpCommand::Remove { name, .. } => {
            users.delete_idp(&pool, name, &Actor::Cli, now).await?;
            println!("deleted {name}");
        }
    }
    Ok(())
}
