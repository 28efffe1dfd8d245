//! Liveness and readiness at the root.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::error::AppError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
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
        json!({ "status": "ready", "database": state.store.backend(), "ephemeral": if state.config.redis_url.is_some() { "Redis" } else { "in-process" } }),
    ))
}

/// `/`: a small page that names each pool's login page and discovery document, so a person
/// who opens the gateway's address finds their way (instead of a JSON 404).
async fn home(State(state): State<AppState>) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let names = state.store.list_pool_names(100).await?;
    let items: String = names
        .iter()
        // Pool names are slugs ([a-z0-9_-]); escaped all the same.
        .map(|n| {
            let issuer = super::pages::esc(&state.config.issuer(n));
            let name = super::pages::esc(n);
            format!(
                r#"<li><strong>{name}</strong>: <a href="{issuer}/login">sign in</a> · <a href="{issuer}/.well-known/openid-configuration">OpenID configuration</a></li>"#
            )
        })
        .collect();
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gatehouse</title></head>
<body><h1>Gatehouse</h1>
<p>An identity gateway. Pools:</p>
<ul>{items}</ul>
<p>Health: <a href="/healthz">/healthz</a>, <a href="/readyz">/readyz</a>. The API and guides are in the project's <code>docs/</code>.</p>
</body></html>"#
    );
    Ok((
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response())
}
