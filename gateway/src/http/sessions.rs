//! Sessions: password sign-in, refresh-token rotation, sign-out of one or every session.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::AppError;
use super::extract::{AppJson, Authenticated, Caller, Pool};
use crate::flows::sign_in;
use crate::metrics::{SignInMethod, SignInResult};
use crate::state::AppState;
use crate::tokens::TokenSet;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/sessions/password", post(sign_in_password))
        .route("/v1/sessions/refresh", post(refresh_session))
        .route("/v1/sessions/revoke", post(revoke_session))
        .route("/v1/me/sessions/revoke-all", post(revoke_all_sessions))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordSignIn {
    email: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: String,
}

/// How many sessions a sign-out of every session ended.
#[derive(Debug, Serialize)]
struct RevokeAllResponse {
    revoked: u64,
}

/// Email and password: a token set. An unknown email and a wrong password answer alike.
async fn sign_in_password(
    State(state): State<AppState>,
    Pool(pool): Pool,
    caller: Caller,
    AppJson(req): AppJson<PasswordSignIn>,
) -> Result<Json<TokenSet>, AppError> {
    let issued = sign_in::password(&state, &pool, &caller, &req.email, &req.password).await?;
    Ok(Json(sign_in::token_set(&state, &pool, &issued).await?))
}

/// Rotates the refresh token (a repeat within 10 s gets the same successor; a later repeat
/// revokes the family). Counted in the metrics as a `refresh` sign-in.
async fn refresh_session(
    State(state): State<AppState>,
    Pool(pool): Pool,
    AppJson(req): AppJson<RefreshRequest>,
) -> Result<Json<TokenSet>, AppError> {
    let outcome = state
        .users
        .refresh(&pool, &req.refresh_token, None, state.clock.now())
        .await;
    let result = SignInResult::of_account(&outcome);
    state
        .metrics
        .sign_in(&pool.name, SignInMethod::Refresh, result);
    Ok(Json(sign_in::token_set(&state, &pool, &outcome?).await?))
}

/// Ends the session the refresh token belongs to. Unknown tokens answer the same.
async fn revoke_session(
    State(state): State<AppState>,
    Pool(pool): Pool,
    AppJson(req): AppJson<RefreshRequest>,
) -> Result<StatusCode, AppError> {
    state
        .users
        .revoke_refresh_token(&pool, &req.refresh_token, None, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the signed-in account, this one included.
async fn revoke_all_sessions(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<RevokeAllResponse>, AppError> {
    let n = state
        .users
        .revoke_all_sessions(&auth.pool, auth.claims.sub, state.clock.now())
        .await?;
    Ok(Json(RevokeAllResponse { revoked: n }))
}
