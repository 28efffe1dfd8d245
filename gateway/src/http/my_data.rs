//! What the signed-in account can see and end of its own: its sessions (device, client,
//! sign-in method, last use; the current one marked), the export of everything held about
//! it, and deleting it (a sign-in within 15 minutes; a notice is mailed).

use accounts::{AccountExport, SessionId, SessionView};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{AppError, Code};
use super::extract::Authenticated;
use super::openapi::Problem;
use crate::state::AppState;

/// With `DELETE /v1/me` (the other methods of `/v1/me` are in `me`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions))
        .routes(routes!(end_session))
        .routes(routes!(export))
        .routes(routes!(delete_account))
}

#[derive(Debug, Serialize, ToSchema)]
struct SessionList {
    sessions: Vec<SessionView>,
}

/// The account's live sessions, the asking one marked `current`.
#[utoipa::path(get, path = "/v1/me/sessions", security(("user" = [])), responses(
    (status = 200, description = "The account's live sessions", body = SessionList),
    (status = 401, response = Problem),
))]
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
#[utoipa::path(delete, path = "/v1/me/sessions/{id}", security(("user" = [])),
    params(("id" = String, Path, format = "uuid", description = "The session's id, as listed")),
    responses(
        (status = 204, description = "The session is over"),
        (status = 401, response = Problem),
        (status = 404, response = Problem),
    ))]
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
#[utoipa::path(get, path = "/v1/me/export", security(("user" = [])), responses(
    (status = 200, description = "The account's data", body = AccountExport),
    (status = 401, response = Problem),
))]
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

/// Deletes the account: credentials, sessions, wallets (free to link elsewhere),
/// memberships. Needs a sign-in within 15 minutes.
#[utoipa::path(delete, path = "/v1/me", security(("user" = [])), responses(
    (status = 204, description = "The account is gone"),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
))]
async fn delete_account(
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
