//! Recovery by email (DESIGN rule 6): `POST /v1/recovery`, `POST /v1/recovery/confirm`.

use accounts::NewSessionRequest;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::AppError;
use super::extract::{AppJson, ClientIp, Pool};
use super::sessions::token_set;
use crate::ratelimit::{self, ATTEMPTS_PER_IP};
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

/// Mails a recovery code to a verified email. Always 202, whatever the address.
async fn start_recovery(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    AppJson(req): AppJson<RecoveryRequest>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let budget = ratelimit::mail_budget(&state, pool.id, &ip, &req.email).await?;
    state
        .users
        .start_recovery(&pool, &req.email, state.clock.now())
        .await?;
    budget.spend(&state).await?;
    state.mail.wake();
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({ "status": "code_sent", "detail": "if the address belongs to an account, a code was sent to it" }),
        ),
    ))
}

/// Proves the email with its code: optionally sets a new password, ends every session, and
/// answers a recovery token set (`amr: ["email"]`).
async fn confirm_recovery(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    AppJson(req): AppJson<ConfirmRecovery>,
) -> Result<Json<TokenSet>, AppError> {
    ratelimit::hit(&state, pool.id, ATTEMPTS_PER_IP, &ip).await?;
    let request = NewSessionRequest::default();
    let confirm = state.users.confirm_recovery(
        &pool,
        &req.email,
        &req.code,
        req.new_password.as_deref(),
        &request,
        state.clock.now(),
    );
    let issued =
        ratelimit::code_attempt(&state, pool.id, &format!("recovery:{}", req.email), confirm)
            .await?;
    state.mail.wake();
    token_set(&state, &pool, &issued).await
}
