//! Liveness and readiness at the root.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::error::AppError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up.
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database and the ephemeral store answer.
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
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
    Ok(Json(
        json!({ "status": "ready", "database": state.store.backend(), "ephemeral": if state.config.redis_url.is_some() { "redis" } else { "memory" } }),
    ))
}
