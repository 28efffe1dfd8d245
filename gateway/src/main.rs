//! `gatehouse`: loads the config, builds the state, binds and serves.

use clap::Parser;
use gateway::cli::{Cli, Command};
use gateway::clock::Clock;
use gateway::{AppState, serve};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    let cli = Cli::parse();
    let config = cli.config()?;
    match cli.command.as_ref().unwrap_or(&Command::Serve) {
        Command::Serve => {
            let listener = tokio::net::TcpListener::bind(config.listen).await?;
            let bound = listener.local_addr()?;
            let mut config = config;
            // Port 0 picks a free port; the default public URL follows it.
            if config.public_url.port() == Some(0) {
                let _ = config.public_url.set_port(Some(bound.port()));
            }
            let issuer = config.issuer(gateway::state::MAIN_POOL);
            let state = AppState::build(config, Clock::default()).await?;
            tracing::info!(listen = %bound, %issuer, "gatehouse listening");
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
