//! `/signup` (email and password, then the emailed code) and `/recover` (the emailed code
//! and a new password). Answers never tell whether an address has an account (DESIGN rule 5).

use accounts::store::PoolRecord;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::login::{Authz, form_target, login_page, signed_in, urlencode};
use super::{Page, PageForm, base, esc, hidden, render, words};
use crate::http::browser;
use crate::http::error::AppError;
use crate::http::extract::{ClientIp, Pool};
use crate::http::recovery::{recover as recover_account, send_recovery_code};
use crate::http::signup::{confirm_email, start_signup};
use crate::state::AppState;

#[derive(Deserialize)]
pub(super) struct AccountForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    authz: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
}

fn error_of(e: &AppError) -> (StatusCode, String) {
    if e.is_server_error() {
        tracing::error!(error = ?e, "hosted page");
        return (StatusCode::SERVICE_UNAVAILABLE, words("").into());
    }
    let status = if e.code() == "rate_limited" {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::BAD_REQUEST
    };
    (status, words(e.code()).into())
}

fn back_to_login(pool: &PoolRecord, authz: &str) -> String {
    let q = if authz.is_empty() {
        String::new()
    } else {
        format!("?authz={}", esc(&urlencode(authz)))
    };
    format!(
        r#"<nav><a href="{}/login{q}">Back to sign in</a></nav>"#,
        base(pool)
    )
}

/// A one-form page: `fields` are the visible inputs (HTML), `keep` hidden values.
#[allow(clippy::too_many_arguments)]
async fn form_page(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    title: &str,
    id: &str,
    action: &str,
    keep: &[(&str, &str)],
    fields: &str,
    button: &str,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let (csrf, set) = browser::csrf_token(state, headers);
    let authz = keep
        .iter()
        .find(|(k, _)| *k == "authz")
        .map_or("", |(_, v)| *v);
    let kept: String = keep.iter().map(|(k, v)| hidden(k, v)).collect();
    let body = format!(
        r#"<form id="{id}" method="post" action="{b}{action}" novalidate>
{csrf}{kept}
{fields}
<button type="submit">{button}</button>
</form>
{back}"#,
        b = base(pool),
        csrf = hidden("csrf", &csrf),
        back = back_to_login(pool, authz),
    );
    let (status, error) = match error {
        Some((s, e)) => (Some(s), Some(e)),
        None => (None, None),
    };
    render(
        state,
        pool,
        Page {
            title: title.into(),
            notice,
            error,
            body,
            status,
            // A form that may end the authorization redirects to the client.
            form_target: form_target(state, pool, authz).await,
            ..Page::default()
        },
        set.as_slice(),
    )
}

fn email_field(value: &str) -> String {
    format!(
        r#"<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="email" required value="{}">"#,
        esc(value)
    )
}

const NEW_PASSWORD: &str = r#"<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="8" aria-describedby="password-hint">
<p id="password-hint" class="hint">At least 8 characters. Long and unusual is best.</p>"#;

const CODE_FIELD: &str = r#"<label for="code">Code from the email</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required>"#;

async fn signup_form(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    authz: &str,
    email: &str,
    error: Option<(StatusCode, String)>,
) -> Response {
    form_page(
        state,
        pool,
        headers,
        "Create an account",
        "signup-form",
        "/signup",
        &[("authz", authz)],
        &format!("{}\n{NEW_PASSWORD}", email_field(email)),
        "Create account",
        None,
        error,
    )
    .await
}

async fn confirm_form(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    authz: &str,
    email: &str,
    error: Option<(StatusCode, String)>,
) -> Response {
    form_page(
        state,
        pool,
        headers,
        "Check your email",
        "confirm-form",
        "/signup/confirm",
        &[("authz", authz), ("email", email)],
        CODE_FIELD,
        "Confirm",
        Some(format!(
            "If {email} can be used, we sent a code to it. Enter it below."
        )),
        error,
    )
    .await
}

pub(super) async fn signup_page(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    Query(q): Query<Authz>,
) -> Response {
    signup_form(&state, &pool, &headers, &q.authz, &q.email, None).await
}

/// `POST /signup`: the same next step whether or not the address has an account.
pub(super) async fn signup(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageForm(f): PageForm<AccountForm>,
) -> Result<Response, AppError> {
    match start_signup(&state, &pool, &ip, &f.email, &f.password, None).await {
        Ok(()) => Ok(confirm_form(&state, &pool, &headers, &f.authz, &f.email, None).await),
        Err(e) => Ok(signup_form(
            &state,
            &pool,
            &headers,
            &f.authz,
            &f.email,
            Some(error_of(&e)),
        )
        .await),
    }
}

/// `POST /signup/confirm`: the code; then the person signs in.
pub(super) async fn confirm_signup(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageForm(f): PageForm<AccountForm>,
) -> Result<Response, AppError> {
    match confirm_email(&state, &pool, &ip, &f.email, f.code.trim()).await {
        Ok(()) => Ok(login_page(
            &state,
            &pool,
            &headers,
            &f.authz,
            &f.email,
            None,
            Some("Your email is confirmed. Sign in to continue.".into()),
        )
        .await),
        Err(e) => Ok(confirm_form(
            &state,
            &pool,
            &headers,
            &f.authz,
            &f.email,
            Some(error_of(&e)),
        )
        .await),
    }
}

async fn recover_form(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    authz: &str,
    email: &str,
    error: Option<(StatusCode, String)>,
) -> Response {
    form_page(
        state,
        pool,
        headers,
        "Reset your password",
        "recover-form",
        "/recover",
        &[("authz", authz)],
        &email_field(email),
        "Send a code",
        None,
        error,
    )
    .await
}

async fn reset_form(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    authz: &str,
    email: &str,
    error: Option<(StatusCode, String)>,
) -> Response {
    form_page(
        state,
        pool,
        headers,
        "Choose a new password",
        "reset-form",
        "/recover/confirm",
        &[("authz", authz), ("email", email)],
        &format!("{CODE_FIELD}\n{NEW_PASSWORD}"),
        "Set password and sign in",
        Some(format!(
            "If {email} belongs to an account, we sent a code to it."
        )),
        error,
    )
    .await
}

pub(super) async fn recover_page(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    Query(q): Query<Authz>,
) -> Response {
    recover_form(&state, &pool, &headers, &q.authz, &q.email, None).await
}

/// `POST /recover`: mails a code if the address has an account; the same page either way.
pub(super) async fn recover(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageForm(f): PageForm<AccountForm>,
) -> Result<Response, AppError> {
    match send_recovery_code(&state, &pool, &ip, &f.email).await {
        Ok(()) => Ok(reset_form(&state, &pool, &headers, &f.authz, &f.email, None).await),
        Err(e) => Ok(recover_form(
            &state,
            &pool,
            &headers,
            &f.authz,
            &f.email,
            Some(error_of(&e)),
        )
        .await),
    }
}

/// `POST /recover/confirm`: the code and a new password; every other session ends and the
/// person is signed in with the recovery (DESIGN rule 6).
pub(super) async fn confirm_recovery(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageForm(f): PageForm<AccountForm>,
) -> Result<Response, AppError> {
    let outcome = recover_account(
        &state,
        &pool,
        &ip,
        &f.email,
        f.code.trim(),
        Some(&f.password),
    )
    .await;
    match outcome {
        Ok(issued) => signed_in(&state, &pool, &headers, &issued.session, &f.authz).await,
        Err(e) => Ok(reset_form(
            &state,
            &pool,
            &headers,
            &f.authz,
            &f.email,
            Some(error_of(&e)),
        )
        .await),
    }
}

impl super::CsrfToken for AccountForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
