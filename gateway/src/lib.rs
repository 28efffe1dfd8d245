//! The Gatehouse gateway: the HTTP API, unified tokens and signing keys, mail delivery, rate
//! limits, configuration and the `gatehouse` CLI. It owns everything HTTP; the user-pool
//! domain lives in `accounts`. Handlers stay thin: authenticate, validate, call the domain,
//! map the result.
//!
//! `main.rs` only loads the config, builds the state and calls [`serve`]; the tests call the
//! same [`serve`] on port 0.

pub mod cli;
pub mod clock;
pub mod config;
pub mod ephemeral;
pub mod federation;
pub mod flows;
pub mod hooks;
pub mod http;
pub mod keys;
pub mod mailer;
pub mod metrics;
pub mod oauth;
pub mod outbound;
pub mod purge;
pub mod pwned;
pub mod ratelimit;
pub mod siwe;
pub mod state;
pub mod storage;
pub mod tokens;
pub mod words;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use http::app;
pub use state::AppState;

/// Serves the API on `listener` and runs the mail worker and the purge until `shutdown`
/// resolves; then finishes in-flight requests and the mail being sent, and returns.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let worker = tokio::spawn(mailer::run_worker(
        state.users.clone(),
        state.hooks.clone(),
        state.transport.clone(),
        state.mail.clone(),
        state.metrics.clone(),
        state.clock.clone(),
        Duration::from_millis(state.config.mail_poll_ms),
        stop_rx.clone(),
    ));
    let purger = tokio::spawn(purge::run(
        state.store.clone(),
        state.config.clone(),
        state.clock.clone(),
        stop_rx.clone(),
    ));
    let redis_watch = state.ephemeral.watch().map(|w| {
        tokio::spawn(ephemeral::watch_primaries(
            w,
            state.metrics.clone(),
            stop_rx,
        ))
    });
    let app = http::app(state);
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    let _ = stop_tx.send(true);
    let _ = worker.await;
    let _ = purger.await;
    if let Some(w) = redis_watch {
        let _ = w.await;
    }
    served
}
