//! The signed-in account: `GET/PATCH /v1/me`, email change (and its undo from the old
//! address), password change.

use accounts::AccountView;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::AppError;
use super::extract::{AppJson, Authenticated, ClientIp, Pool};
use super::openapi::Problem;
use super::response::StatusResponse;
use crate::flows::recovery;
use crate::ratelimit::{self, MAIL_PER_ACCOUNT, MAIL_PER_EMAIL};
use crate::state::AppState;

/// `DELETE /v1/me` is routed with the rest of the account's data, in `my_data`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me, update_me))
        .routes(routes!(change_email))
        .routes(routes!(confirm_email))
        .routes(routes!(change_password))
        .routes(routes!(undo_email_change))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateMe {
    /// Merged into the account's attributes; `null` removes one.
    #[schema(value_type = Object)]
    attributes: Map<String, Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangeEmail {
    email: String,
    /// Needed when the session signed in more than 15 minutes ago.
    current_password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConfirmEmail {
    code: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    current_password: Option<String>,
    new_password: String,
}

/// The account, its attributes and its credentials.
#[utoipa::path(get, path = "/v1/me", security(("user" = [])), responses(
    (status = 200, description = "The signed-in account", body = AccountView),
    (status = 401, response = Problem),
))]
async fn get_me(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<AccountView>, AppError> {
    Ok(Json(
        state.users.account(&auth.pool, auth.claims.sub).await?,
    ))
}

/// Merges attributes (`null` removes one).
#[utoipa::path(patch, path = "/v1/me", security(("user" = [])), request_body = UpdateMe, responses(
    (status = 200, description = "The account as changed", body = AccountView),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
))]
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

/// Mails a code to the new address. Needs a recent authentication: a stolen access token
/// must not move the account to another mailbox.
#[utoipa::path(post, path = "/v1/me/email", security(("user" = [])), request_body = ChangeEmail, responses(
    (status = 202, description = "A code was sent to the new address", body = StatusResponse),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 429, response = Problem),
))]
async fn change_email(
    State(state): State<AppState>,
    auth: Authenticated,
    AppJson(req): AppJson<ChangeEmail>,
) -> Result<(StatusCode, Json<StatusResponse>), AppError> {
    auth.require_recent(&state, req.current_password.as_deref())
        .await?;
    let recipient = ratelimit::email_subject(&req.email);
    let account = auth.claims.sub.to_string();
    let budget = ratelimit::reserve(
        &state,
        &auth.pool,
        &[(MAIL_PER_EMAIL, &recipient), (MAIL_PER_ACCOUNT, &account)],
    )
    .await?;
    let outcome = state
        .users
        .start_email_change(&auth.pool, auth.claims.sub, &req.email, state.clock.now())
        .await;
    budget.settle(&state, outcome.is_ok()).await;
    outcome?;
    state.mail.wake();
    Ok((StatusCode::ACCEPTED, Json(StatusResponse::new("code_sent"))))
}

/// The code makes the new address the account's verified email.
#[utoipa::path(post, path = "/v1/me/email/confirm", security(("user" = [])), request_body = ConfirmEmail, responses(
    (status = 200, description = "The account with its new email", body = AccountView),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 409, response = Problem),
    (status = 429, response = Problem),
))]
async fn confirm_email(
    State(state): State<AppState>,
    auth: Authenticated,
    AppJson(req): AppJson<ConfirmEmail>,
) -> Result<Json<AccountView>, AppError> {
    let issuer = state.config.issuer(&auth.pool.name);
    let confirm = state.users.confirm_email_change(
        &auth.pool,
        auth.claims.sub,
        &req.code,
        &issuer,
        state.clock.now(),
    );
    let subject = format!("email-change:{}", auth.claims.sub);
    let view = ratelimit::code_attempt(&state, &auth.pool, &subject, confirm).await??;
    state.mail.wake();
    Ok(Json(view))
}

/// Sets or changes the password; every other session ends. A recovery session (`amr:
/// ["email"]`) less than 15 minutes old may set one without the current one (DESIGN rule 6:
/// the person proved the email, not the old password).
#[utoipa::path(post, path = "/v1/me/password", security(("user" = [])), request_body = ChangePassword, responses(
    (status = 204, description = "The password is set; every other session ended"),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 429, response = Problem),
))]
async fn change_password(
    State(state): State<AppState>,
    auth: Authenticated,
    AppJson(req): AppJson<ChangePassword>,
) -> Result<StatusCode, AppError> {
    crate::flows::account::change_password(
        &state,
        &auth.pool,
        &auth.session,
        req.current_password.as_deref(),
        &req.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UndoEmailChange {
    token: String,
}

/// "This wasn't me": the link mailed to the old address of an email change gives that
/// address back, ends every session and mails a recovery code there (72 hours, once).
#[utoipa::path(post, path = "/v1/email-change/undo", request_body = UndoEmailChange, responses(
    (status = 200, description = "The old address is back", body = StatusResponse),
    (status = 400, response = Problem),
    (status = 429, response = Problem),
))]
async fn undo_email_change(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    AppJson(req): AppJson<UndoEmailChange>,
) -> Result<Json<StatusResponse>, AppError> {
    recovery::undo_email_change(&state, &pool, &ip, &req.token).await?;
    Ok(Json(StatusResponse::with_detail(
        "restored",
        "the old address is the account's email again, every session was signed out, and a recovery code was sent to it",
    )))
}
