//! `gatehouse`: loads the config, builds the state, binds and serves.

use clap::Parser;
use gateway::cli::{Cli, Command};
use gateway::clock::Clock;
use gateway::{AppState, serve};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logs(matches!(cli.command, None | Some(Command::Serve)))?;
    let config = cli.config()?;
    match cli.command.as_ref().unwrap_or(&Command::Serve) {
        Command::Serve => {
            let mut config = config;
            // Port 0 picks a free port, which the default public URL must follow: bind
            // first. Otherwise connect every store first, so a database or Redis that
            // cannot be reached fails the start before the port is taken.
            let (state, listener) = if config.listen.port() == 0 {
                let listener = bind(config.listen).await?;
                if config.public_url.port() == Some(0) {
                    let _ = config
                        .public_url
                        .set_port(Some(listener.local_addr()?.port()));
                }
                (AppState::build(config, Clock::default()).await?, listener)
            } else {
                let listen = config.listen;
                let state = AppState::build(config, Clock::default()).await?;
                (state, bind(listen).await?)
            };
            if state.config.smtp_url.is_none() {
                tracing::warn!(
                    "GATEHOUSE_SMTP_URL is not set: mail goes to the log (development only)"
                );
            }
            let bound = listener.local_addr()?;
            let issuer = state.config.issuer(gateway::state::MAIN_POOL);
            tracing::info!(listen = %bound, %issuer, "gatehouse listening");
            serve(state, listener, shutdown_signal()).await?;
            tracing::info!("stopped");
        }
        other => gateway::cli::run_admin(other, config, cli.json).await?,
    }
    Ok(())
}

/// The log: text, or one JSON object per line with `GATEHOUSE_LOG_FORMAT=json` (each line
/// inside a request carries its span, with the `request_id` a 500's problem body names).
/// The server logs to stdout; a command logs to stderr, its output (tables, JSON) being
/// stdout's alone.
fn init_logs(serving: bool) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let json = match std::env::var("GATEHOUSE_LOG_FORMAT").as_deref() {
        Err(_) | Ok("") | Ok("text") => false,
        Ok("json") => true,
        Ok(other) => anyhow::bail!("GATEHOUSE_LOG_FORMAT must be text or json, not {other:?}"),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match (json, serving) {
        (true, true) => builder.json().init(),
        (true, false) => builder.json().with_writer(std::io::stderr).init(),
        (false, true) => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .init(),
        (false, false) => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .init(),
    }
    Ok(())
}

/// Binds `addr`, naming the address and the setting when it cannot.
async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                "the address is in use (another process has the port)".to_string()
            }
            std::io::ErrorKind::PermissionDenied => {
                "permission denied (ports below 1024 need privileges)".to_string()
            }
            _ => e.to_string(),
        };
        anyhow::anyhow!("cannot listen on {addr}: {why}; set GATEHOUSE_LISTEN to another address")
    })
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
