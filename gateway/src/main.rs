//! `gatehouse`: loads the config, builds the state, binds and serves.

use clap::Parser;
use gateway::cli::{Cli, Command};
use gateway::clock::Clock;
use gateway::{AppState, serve};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    let cli = Cli::parse();
    let config = cli.config()?;
    match cli.command.as_ref().unwrap_or(&Command::Serve) {
        Command::Serve => {
            let listen = config.listen;
            let public = config.public_url.clone();
            let state = AppState::build(config, Clock::default()).await?;
            let listener = tokio::net::TcpListener::bind(listen).await?;
            tracing::info!(%listen, issuer = %format!("{}pools/main", public), "gatehouse listening");
            serve(state, listener, shutdown_signal()).await?;
            tracing::info!("stopped");
        }
        other => gateway::cli::run_admin(other, config).await?,
    }
    Ok(())
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
