//! Sessions: password sign-in, refresh-token rotation, sign-out of one or every session.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::AppError;
use super::extract::{AppJson, Authenticated, Caller, Pool};
use super::mfa::{SignInResponse, sign_in_answer};
use super::openapi::Problem;
use crate::flows::sign_in;

use crate::state::AppState;
use crate::tokens::TokenSet;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in_password))
        .routes(routes!(refresh_session))
        .routes(routes!(revoke_session))
        .routes(routes!(revoke_all_sessions))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordSignIn {
    email: String,
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    refresh_token: String,
}

/// How many sessions a sign-out of every session ended.
#[derive(Debug, Serialize, ToSchema)]
struct RevokeAllResponse {
    revoked: u64,
}

/// Email and password: a token set. An unknown email and a wrong password answer alike.
#[utoipa::path(post, path = "/v1/sessions/password", request_body = PasswordSignIn, responses(
    (status = 200, description = "Signed in, or a second factor is due", body = SignInResponse),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 429, response = Problem),
))]
async fn sign_in_password(
    State(state): State<AppState>,
    Pool(pool): Pool,
    caller: Caller,
    AppJson(req): AppJson<PasswordSignIn>,
) -> Result<Json<SignInResponse>, AppError> {
    let outcome = sign_in::password(&state, &pool, &caller, &req.email, &req.password).await?;
    sign_in_answer(&state, &pool, &caller, outcome).await
}

/// Rotates the refresh token (a repeat within 10 s gets the same successor; a later repeat
/// revokes the family). Counted in the metrics as a `refresh` sign-in.
#[utoipa::path(post, path = "/v1/sessions/refresh", request_body = RefreshRequest, responses(
    (status = 200, description = "The rotated token set", body = TokenSet),
    (status = 400, response = Problem),
))]
async fn refresh_session(
    State(state): State<AppState>,
    Pool(pool): Pool,
    caller: Caller,
    AppJson(req): AppJson<RefreshRequest>,
) -> Result<Json<TokenSet>, AppError> {
    let request_id = caller.request_id.as_deref();
    let set = sign_in::refresh(&state, &pool, &req.refresh_token, request_id).await?;
    Ok(Json(set))
}

/// Ends the session the refresh token belongs to. Unknown tokens answer the same.
#[utoipa::path(post, path = "/v1/sessions/revoke", request_body = RefreshRequest, responses(
    (status = 204, description = "The session is over (or never was)"),
    (status = 400, response = Problem),
))]
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
#[utoipa::path(post, path = "/v1/me/sessions/revoke-all", security(("user" = [])), responses(
    (status = 200, description = "How many sessions ended", body = RevokeAllResponse),
    (status = 401, response = Problem),
))]
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
