//! The signed-in account: `GET/PATCH /v1/me`, email change, password change.

use accounts::{AccountView, PasswordChange};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::AppError;
use super::extract::{AppJson, Authenticated};
use crate::ratelimit::{self, MAIL_PER_EMAIL};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/me", get(get_me).patch(update_me))
        .route("/v1/me/email", post(change_email))
        .route("/v1/me/email/confirm", post(confirm_email))
        .route("/v1/me/password", post(change_password))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateMe {
    attributes: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeEmail {
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmEmail {
    code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    current_password: Option<String>,
    new_password: String,
}

/// The account, its attributes and its credentials.
async fn get_me(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<AccountView>, AppError> {
    Ok(Json(
        state.users.account(&auth.pool, auth.claims.sub).await?,
    ))
}

/// Merges attributes (`null` removes one).
async fn update_me(
    State(state): State<AppState>,
    auth: Authenticated,
    AppJson(req): AppJson<UpdateMe>,
) -> Result<Json<AccountView>, AppError> {
    let view = state
        .users
        .update_attributes(
            &auth.pool,
            auth.claims.sub,
            req.attributes,
            state.clock.now(),
        )
        .await?;
    Ok(Json(view))
}

/// Mails a code to the new address.
async fn change_email(
    State(state): State<AppState>,
    auth: Authenticated,
    AppJson(req): AppJson<ChangeEmail>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let mail_key = req.email.trim().to_lowercase();
    ratelimit::check(&state, auth.pool.id, MAIL_PER_EMAIL, &mail_key).await?;
    state
        .users
        .start_email_change(&auth.pool, auth.claims.sub, &req.email, state.clock.now())
        .await?;
    ratelimit::hit(&state, auth.pool.id, MAIL_PER_EMAIL, &mail_key).await?;
    state.mail.wake();
    Ok((StatusCode::ACCEPTED, Json(json!({ "status": "code_sent" }))))
}

/// The code makes the new address the account's verified email.
async fn confirm_email(
    State(state): State<AppState>,
    auth: Authenticated,
    AppJson(req): AppJson<ConfirmEmail>,
) -> Result<Json<AccountView>, AppError> {
    let view = state
        .users
        .confirm_email_change(&auth.pool, auth.claims.sub, &req.code, state.clock.now())
        .await?;
    state.mail.wake();
    Ok(Json(view))
}

/// Sets or changes the password; every other session ends.
async fn change_password(
    State(state): State<AppState>,
    auth: Authenticated,
    AppJson(req): AppJson<ChangePassword>,
) -> Result<StatusCode, AppError> {
    let change = PasswordChange {
        current: req.current_password.as_deref(),
        new: &req.new_password,
        session: auth.session.id,
    };
    state
        .users
        .change_password(&auth.pool, auth.claims.sub, change, state.clock.now())
        .await?;
    state.mail.wake();
    Ok(StatusCode::NO_CONTENT)
}
