//! Sign-up by email: `POST /v1/signup`, `/v1/signup/resend`, `/v1/signup/confirm`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::{AppError, Code};
use super::extract::{AppJson, ClientIp, Pool};
use super::response::StatusResponse;
use crate::flows::signup;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/signup", post(signup))
        .route("/v1/signup/resend", post(resend_code))
        .route("/v1/signup/confirm", post(confirm_signup))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignupRequest {
    email: String,
    password: String,
    attributes: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailRequest {
    email: String,
}

#[derive(Deserialize)]
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
async fn signup(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    AppJson(req): AppJson<SignupRequest>,
) -> Result<(StatusCode, Json<StatusResponse>), AppError> {
    signup::start(
        &state,
        &pool,
        &ip,
        &req.email,
        &req.password,
        req.attributes,
    )
    .await?;
    Ok(accepted())
}

/// Sends a new code to an unconfirmed account; answers the same for any address.
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
async fn confirm_signup(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    AppJson(req): AppJson<ConfirmRequest>,
) -> Result<Json<StatusResponse>, AppError> {
    let password = req.password.ok_or_else(|| {
        AppError::refused(
            Code::PasswordRequired,
            "give the password chosen at sign-up together with the code",
        )
    })?;
    signup::confirm(&state, &pool, &ip, &req.email, &req.code, &password).await?;
    Ok(Json(StatusResponse::new("confirmed")))
}
