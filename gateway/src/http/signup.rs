//! Sign-up by email: `POST /v1/signup`, `/v1/signup/resend`, `/v1/signup/confirm`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{AppError, Code};
use super::extract::{AppJson, Caller, ClientIp, Pool};
use super::openapi::Problem;
use super::response::StatusResponse;
use crate::flows::signup;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(resend_code))
        .routes(routes!(confirm_signup))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SignupRequest {
    email: String,
    password: String,
    /// The account's own attributes (a JSON object).
    #[schema(value_type = Option<Object>)]
    attributes: Option<Map<String, Value>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct EmailRequest {
    email: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConfirmRequest {
    email: String,
    code: String,
    /// The password given at sign-up: it picks the sign-up the code confirms.
    password: Option<String>,
}

/// The one answer to every accepted sign-up, whether or not the email exists (DESIGN rule 5).
fn accepted() -> (StatusCode, Json<StatusResponse>) {
    (
        StatusCode::ACCEPTED,
        Json(StatusResponse::with_detail(
            "confirmation_sent",
            "if the address can be used, a code was sent to it",
        )),
    )
}

/// Creates a pending account and mails a confirmation code; an existing address gets a
/// notice instead, with the same answer.
#[utoipa::path(post, path = "/v1/signup", request_body = SignupRequest, responses(
    (status = 202, description = "A code was sent if the address can be used (the same answer either way)", body = StatusResponse),
    (status = 400, response = Problem),
    (status = 429, response = Problem),
))]
async fn signup(
    State(state): State<AppState>,
    Pool(pool): Pool,
    caller: Caller,
    AppJson(req): AppJson<SignupRequest>,
) -> Result<(StatusCode, Json<StatusResponse>), AppError> {
    signup::start(
        &state,
        &pool,
        &caller,
        &req.email,
        &req.password,
        req.attributes,
    )
    .await?;
    Ok(accepted())
}

/// Sends a new code to an unconfirmed account; answers the same for any address.
#[utoipa::path(post, path = "/v1/signup/resend", request_body = EmailRequest, responses(
    (status = 202, description = "A code was sent if the account waits for one (the same answer either way)", body = StatusResponse),
    (status = 400, response = Problem),
    (status = 429, response = Problem),
))]
async fn resend_code(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    AppJson(req): AppJson<EmailRequest>,
) -> Result<(StatusCode, Json<StatusResponse>), AppError> {
    signup::resend(&state, &pool, &ip, &req.email).await?;
    Ok(accepted())
}

/// Confirms the email with its code and the password of the sign-up it is for; the
/// account becomes active with that password.
#[utoipa::path(post, path = "/v1/signup/confirm", request_body = ConfirmRequest, responses(
    (status = 200, description = "The account is active", body = StatusResponse),
    (status = 400, response = Problem),
    (status = 429, response = Problem),
))]
async fn confirm_signup(
    State(state): State<AppState>,
    Pool(pool): Pool,
    caller: Caller,
    AppJson(req): AppJson<ConfirmRequest>,
) -> Result<Json<StatusResponse>, AppError> {
    let password = req.password.ok_or_else(|| {
        AppError::refused(
            Code::PasswordRequired,
            "give the password chosen at sign-up together with the code",
        )
    })?;
    signup::confirm(&state, &pool, &caller, &req.email, &req.code, &password).await?;
    Ok(Json(StatusResponse::new("confirmed")))
}
