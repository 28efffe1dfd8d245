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
}

/// The database and the ephemeral store answer.
async fn readyz(State(state): State<AppState>) -> Result<Json<ReadyResponse>, AppError> {
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
    Ok(Json(ReadyResponse {
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
