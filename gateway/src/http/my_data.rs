//! What the signed-in account can see and end of its own: its sessions (device, client,
//! sign-in method, last use; the current one marked), the export of everything held about
//! it, and deleting it (a sign-in within 15 minutes; a notice is mailed).

use accounts::{AccountExport, SessionId, SessionView};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Serialize;
use std::collections::HashMap;

use super::error::{AppError, Code};
use super::extract::Authenticated;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/me/sessions", get(list_sessions))
        .route("/v1/me/sessions/{id}", delete(end_session))
        .route("/v1/me/export", get(export))
}

#[derive(Debug, Serialize)]
struct SessionList {
    sessions: Vec<SessionView>,
}

async fn list_sessions(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<SessionList>, AppError> {
    let sessions = state
        .users
        .sessions_of(auth.claims.sub, Some(auth.session.id), state.clock.now())
        .await?;
    Ok(Json(SessionList { sessions }))
}

/// Ends one of the account's sessions (and the app sessions authorized from it).
async fn end_session(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(params): Path<HashMap<String, String>>,
) -> Result<StatusCode, AppError> {
    let not_found = || AppError::refused(Code::SessionNotFound, "no such live session");
    let id = params
        .get("id")
        .and_then(|id| SessionId::parse(id))
        .ok_or_else(not_found)?;
    state
        .users
        .end_own_session(&auth.pool, auth.claims.sub, id, state.clock.now())
        .await
        .map_err(|e| match e {
            accounts::Error::InvalidRefreshToken => not_found(),
            e => e.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everything held about the account, secrets excluded.
async fn export(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<AccountExport>, AppError> {
    let data = state
        .users
        .export_account(
            &auth.pool,
            auth.claims.sub,
            Some(auth.session.id),
            state.clock.now(),
        )
        .await?;
    Ok(Json(data))
}

/// `DELETE /v1/me` (routed with `/v1/me` in `me.rs`): deletes the account: credentials, sessions, wallets (free to link elsewhere),
/// memberships. Needs a sign-in within 15 minutes.
pub(super) async fn delete_account(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<StatusCode, AppError> {
    auth.require_recent(&state, None).await?;
    state
        .users
        .delete_own_account(&auth.pool, auth.claims.sub, state.clock.now())
        .await?;
    state.mail.wake();
    Ok(StatusCode::NO_CONTENT)
}
