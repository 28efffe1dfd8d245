//! Recovery by email (DESIGN rule 6): `POST /v1/recovery`, `POST /v1/recovery/confirm`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use super::error::AppError;
use super::extract::{AppJson, Caller, ClientIp, Pool};
use super::response::StatusResponse;
use crate::flows::{recovery, sign_in};
use crate::state::AppState;
use crate::tokens::TokenSet;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/recovery", post(start_recovery))
        .route("/v1/recovery/confirm", post(confirm_recovery))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecoveryRequest {
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmRecovery {
    email: String,
    code: String,
    new_password: Option<String>,
}

/// Mails a recovery code to the address if it belongs to an account; the same answer
/// either way (DESIGN rule 5).
async fn start_recovery(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    AppJson(req): AppJson<RecoveryRequest>,
) -> Result<(StatusCode, Json<StatusResponse>), AppError> {
    recovery::send_code(&state, &pool, &ip, &req.email).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(StatusResponse::with_detail(
            "code_sent",
            "if the address belongs to an account, a code was sent to it",
        )),
    ))
}

/// Proves the email with its code: optionally sets a new password, ends every session, and
/// answers a recovery token set (`amr: ["email"]`).
async fn confirm_recovery(
    State(state): State<AppState>,
    Pool(pool): Pool,
    caller: Caller,
    AppJson(req): AppJson<ConfirmRecovery>,
) -> Result<Json<TokenSet>, AppError> {
    let issued = recovery::recover(
        &state,
        &pool,
        &caller,
        &req.email,
        &req.code,
        req.new_password.as_deref(),
    )
    .await?;
    Ok(Json(sign_in::token_set(&state, &pool, &issued).await?))
}
