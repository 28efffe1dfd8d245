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
use crate::ratelimit::{self, MAIL_PER_ACCOUNT, MAIL_PER_EMAIL, PASSWORD_CHECK_FAILURES};
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
    let pool = auth.pool.id;
    let mail_key = req.email.trim().to_lowercase();
    ratelimit::check(&state, pool, MAIL_PER_EMAIL, &mail_key).await?;
    ratelimit::hit(&state, pool, MAIL_PER_ACCOUNT, &auth.claims.sub.to_string()).await?;
    state
        .users
        .start_email_change(&auth.pool, auth.claims.sub, &req.email, state.clock.now())
        .await?;
    ratelimit::record(&state, pool, MAIL_PER_EMAIL, &mail_key).await?;
    state.mail.wake();
    Ok((StatusCode::ACCEPTED, Json(json!({ "status": "code_sent" }))))
}

/// The code makes the new address the account's verified email.
async fn confirm_email(
    State(state): State<AppState>,
    auth: Authenticated,
    AppJson(req): AppJson<ConfirmEmail>,
) -> Result<Json<AccountView>, AppError> {
    let confirm =
        state
            .users
            .confirm_email_change(&auth.pool, auth.claims.sub, &req.code, state.clock.now());
    let subject = format!("email-change:{}", auth.claims.sub);
    let view = ratelimit::code_attempt(&state, auth.pool.id, &subject, confirm).await?;
    state.mail.wake();
    Ok(Json(view))
}

/// A recovery session (`amr: ["email"]`) this recent may set a password without the
/// current one (DESIGN rule 6: the person proved the email, not the old password).
const RECOVERY_PASSWORD_WINDOW: i64 = 15 * 60;

/// Sets or changes the password; every other session ends.
async fn change_password(
    State(state): State<AppState>,
    auth: Authenticated,
    AppJson(req): AppJson<ChangePassword>,
) -> Result<StatusCode, AppError> {
    let now = state.clock.now();
    let account = auth.claims.sub.to_string();
    ratelimit::check(&state, auth.pool.id, PASSWORD_CHECK_FAILURES, &account).await?;
    let change = PasswordChange {
        current: req.current_password.as_deref(),
        new: &req.new_password,
        session: auth.session.id,
        recovered: auth.claims.amr == ["email"]
            && now - auth.claims.auth_time <= RECOVERY_PASSWORD_WINDOW,
    };
    match state
        .users
        .change_password(&auth.pool, auth.claims.sub, change, now)
        .await
    {
        Err(accounts::Error::InvalidCredentials) => {
            ratelimit::record(&state, auth.pool.id, PASSWORD_CHECK_FAILURES, &account).await?;
            return Err(accounts::Error::InvalidCredentials.into());
        }
        other => other?,
    }
    state.mail.wake();
    Ok(StatusCode::NO_CONTENT)
}
