//! Recovery by email (DESIGN rule 6): `POST /v1/recovery`, `POST /v1/recovery/confirm`.

use accounts::Issued;
use accounts::store::PoolRecord;
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

/// Mails a recovery code to the address if it belongs to an account; the same answer
/// either way (DESIGN rule 5).
async fn start_recovery(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    AppJson(req): AppJson<RecoveryRequest>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    send_recovery_code(&state, &pool, &ip, &req.email).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({ "status": "code_sent", "detail": "if the address belongs to an account, a code was sent to it" }),
        ),
    ))
}

/// A recovery code with its mail budget, for the API and the hosted page alike.
pub(super) async fn send_recovery_code(
    state: &AppState,
    pool: &PoolRecord,
    ip: &str,
    email: &str,
) -> Result<(), AppError> {
    let budget = ratelimit::mail_budget(state, pool.id, ip, email).await?;
    let outcome = state
        .users
        .start_recovery(pool, email, state.clock.now())
        .await;
    budget.settle(state, &outcome).await;
    outcome?;
    state.mail.wake();
    Ok(())
}

/// Proves the email with its code: optionally sets a new password, ends every session, and
/// answers a recovery token set (`amr: ["email"]`).
async fn confirm_recovery(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    AppJson(req): AppJson<ConfirmRecovery>,
) -> Result<Json<TokenSet>, AppError> {
    let issued = recover(
        &state,
        &pool,
        &ip,
        &req.email,
        &req.code,
        req.new_password.as_deref(),
    )
    .await?;
    token_set(&state, &pool, &issued).await
}

/// A recovery with its attempt limits, for the API and the hosted page alike.
pub(super) async fn recover(
    state: &AppState,
    pool: &PoolRecord,
    ip: &str,
    email: &str,
    code: &str,
    new_password: Option<&str>,
) -> Result<Issued, AppError> {
    ratelimit::hit(state, pool.id, ATTEMPTS_PER_IP, ip).await?;
    let confirm = state
        .users
        .confirm_recovery(pool, email, code, new_password, state.clock.now());
    let subject = format!("recovery:{}", ratelimit::email_subject(email));
    let issued = ratelimit::code_attempt(state, pool.id, &subject, confirm).await??;
    state.mail.wake();
    Ok(issued)
}
