//! Recovery by email (DESIGN rule 6): `POST /v1/recovery`, `POST /v1/recovery/confirm`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::AppError;
use super::extract::{AppJson, Caller, ClientIp, Pool};
use super::mfa::SignInResponse;
use super::openapi::Problem;
use super::response::StatusResponse;
use crate::flows::recovery;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_recovery))
        .routes(routes!(confirm_recovery))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RecoveryRequest {
    email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConfirmRecovery {
    email: String,
    code: String,
    /// Set at once; without it, the recovery session may set one within 15 minutes.
    new_password: Option<String>,
}

/// Mails a recovery code to the address if it belongs to an account; the same answer
/// either way (DESIGN rule 5).
#[utoipa::path(post, path = "/v1/recovery", request_body = RecoveryRequest, responses(
    (status = 202, description = "A code was sent if the address belongs to an account (the same answer either way)", body = StatusResponse),
    (status = 400, response = Problem),
    (status = 429, response = Problem),
))]
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
#[utoipa::path(post, path = "/v1/recovery/confirm", request_body = ConfirmRecovery, responses(
    (status = 200, description = "A recovery token set, or a second factor is due", body = SignInResponse),
    (status = 400, response = Problem),
    (status = 429, response = Problem),
))]
async fn confirm_recovery(
    State(state): State<AppState>,
    Pool(pool): Pool,
    caller: Caller,
    AppJson(req): AppJson<ConfirmRecovery>,
) -> Result<Json<SignInResponse>, AppError> {
    let outcome = recovery::recover(
        &state,
        &pool,
        &caller,
        &req.email,
        &req.code,
        req.new_password.as_deref(),
    )
    .await?;
    super::mfa::sign_in_answer(&state, &pool, &caller, outcome).await
}
