//! Liveness and readiness at the root.

use askama::Template;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::error::AppError;
use super::response::StatusResponse;
use crate::state::AppState;
use crate::words::{Words, words};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up.
async fn healthz() -> Json<StatusResponse> {
    Json(StatusResponse::new("ok"))
}

/// Ready, and which backends answered.
#[derive(Debug, Serialize)]
struct ReadyResponse {
    status: &'static str,
    database: &'static str,
    ephemeral: &'static str,
    /// This instance's clock minus the database's, seconds. Beyond the tokens' leeway
    /// (60 s) the instance is not ready: its tokens would be refused by the others.
    clock_offset_seconds: i64,
}

/// How long `/readyz` waits for the backends before it says "not ready": a load balancer
/// probing it must not hang on a database that went away.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// The database and the ephemeral store answer, within [`READY_WITHIN`].
async fn readyz(State(state): State<AppState>) -> Result<Json<ReadyResponse>, AppError> {
    tokio::time::timeout(READY_WITHIN, ready(&state))
        .await
        .map_err(|_| {
            AppError::Unavailable(format!(
                "the backends did not answer within {} s",
                READY_WITHIN.as_secs()
            ))
        })?
}

async fn ready(state: &AppState) -> Result<Json<ReadyResponse>, AppError> {
    state
        .store
        .ping()
        .await
        .map_err(|e| AppError::Unavailable(format!("database: {e}")))?;
    state
        .ephemeral
        .ping()
        .await
        .map_err(|e| AppError::Unavailable(format!("ephemeral store: {e}")))?;
    let database_now = state
        .store
        .clock()
        .await
        .map_err(|e| AppError::Unavailable(format!("database: {e}")))?;
    let clock_offset_seconds = state.clock.now() - database_now;
    if clock_offset_seconds.abs() > crate::tokens::LEEWAY {
        return Err(AppError::Unavailable(format!(
            "this instance's clock is {clock_offset_seconds} s off the database's, beyond the \
             tokens' leeway of {} s: its tokens would be refused elsewhere",
            crate::tokens::LEEWAY
        )));
    }
    Ok(Json(ReadyResponse {
        clock_offset_seconds,
        status: "ready",
        database: state.store.backend(),
        ephemeral: if state.config.redis_url.is_some() {
            "Redis"
        } else {
            "in-process"
        },
    }))
}

/// `/`: a small page that names each pool's login page and discovery document, so a person
/// who opens the gateway's address finds their way (instead of a JSON 404).
async fn home(State(state): State<AppState>) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let names = state.store.list_pool_names(100).await?;
    let page = HomePage {
        w: words(),
        pools: names
            .into_iter()
            .map(|n| {
                let issuer = state.config.issuer(&n);
                (n, issuer)
            })
            .collect(),
    };
    let html = page
        .render()
        .map_err(|e| AppError::Internal(format!("the home page did not render: {e}")))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "pages/home.html")]
struct HomePage {
    w: &'static Words,
    /// Each pool's name and issuer.
    pools: Vec<(String, String)>,
}
