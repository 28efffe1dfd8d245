//! `/signup` (email and password, then the emailed code) and `/recover` (the emailed code
//! and a new password). Answers never tell whether an address has an account (DESIGN rule 5).

use accounts::store::PoolRecord;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::login::{Authz, form_target, login_page, signed_in};
use super::{Page, PageForm, authz_query, base, esc, hidden, refusal, render};
use crate::flows::{recovery, signup};
use crate::http::browser;
use crate::http::error::AppError;
use crate::http::extract::{ClientIp, Pool};
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
    #[serde(default)]
    token: String,
}

impl super::CsrfToken for AccountForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The one-form pages of sign-up and recovery.
#[derive(Clone, Copy)]
enum Step {
    /// Email and password.
    Signup,
    /// The code mailed for a sign-up.
    Confirm,
    /// The email to recover.
    Recover,
    /// The mailed recovery code and a new password.
    Reset,
}

/// The new-password field, with the pool's own minimum (the one rule, stated once, in the
/// pool's policy).
fn new_password(min: usize) -> String {
    format!(
        r#"<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="{min}" aria-describedby="password-hint">
<p id="password-hint" class="hint">At least {min} characters. Long and unusual is best.</p>"#
    )
}

const SIGNUP_PASSWORD: &str = r#"<label for="password">The password you chose</label>
<input id="password" name="password" type="password" autocomplete="current-password" required aria-describedby="password-why">
<p id="password-why" class="hint">The code confirms the sign-up made with this password.</p>"#;

const CODE_FIELD: &str = r#"<label for="code">Code from the email</label>
<input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required>"#;

fn email_field(value: &str) -> String {
    format!(
        r#"<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="email" required value="{}">"#,
        esc(value)
    )
}

impl Step {
    /// Title, form id, action, submit label.
    fn labels(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Step::Signup => (
                "Create an account",
                "signup-form",
                "/signup",
                "Create account",
            ),
            Step::Confirm => (
                "Check your email",
                "confirm-form",
                "/signup/confirm",
                "Confirm",
            ),
            Step::Recover => (
                "Reset your password",
                "recover-form",
                "/recover",
                "Send a code",
            ),
            Step::Reset => (
                "Choose a new password",
                "reset-form",
                "/recover/confirm",
                "Set password and sign in",
            ),
        }
    }

    /// The visible fields; the steps after a mail keep the email hidden and say where the
    /// code went (whether or not the address has an account).
    fn fields(self, email: &str, min_password: usize) -> (String, Option<String>) {
        match self {
            Step::Signup => (
                format!("{}\n{}", email_field(email), new_password(min_password)),
                None,
            ),
            Step::Recover => (email_field(email), None),
            Step::Confirm => (
                format!("{}{CODE_FIELD}\n{SIGNUP_PASSWORD}", hidden("email", email)),
                Some(format!(
                    "If {email} can be used, we sent a code to it. Enter it below."
                )),
            ),
            Step::Reset => (
                format!(
                    "{}{CODE_FIELD}\n{}",
                    hidden("email", email),
                    new_password(min_password)
                ),
                Some(format!(
                    "If {email} belongs to an account, we sent a code to it."
                )),
            ),
        }
    }
}

/// The page of `step`, keeping the pending authorization and the email, with `refused`
/// shown.
async fn step_page(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    step: Step,
    authz: &str,
    email: &str,
    refused: Option<(StatusCode, String)>,
) -> Response {
    let (csrf, set) = browser::csrf_token(state, headers);
    let (title, id, action, button) = step.labels();
    let (fields, notice) = step.fields(email, pool.config.password_min_length);
    let b = base(pool);
    let body = format!(
        r#"<form id="{id}" method="post" action="{b}{action}" novalidate>
{csrf}{authz_field}
{fields}
<button type="submit">{button}</button>
</form>
<nav><a href="{b}/login{q}">Back to sign in</a></nav>"#,
        csrf = hidden("csrf", &csrf),
        authz_field = hidden("authz", authz),
        q = authz_query(authz),
    );
    render(
        pool,
        Page {
            title: title.into(),
            notice,
            refused,
            body,
            // A form that may end the authorization redirects to the client.
            form_target: form_target(state, pool, authz).await,
            ..Page::default()
        },
        set.as_slice(),
    )
}

pub(super) async fn signup_page(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    Query(q): Query<Authz>,
) -> Response {
    step_page(
        &state,
        &pool,
        &headers,
        Step::Signup,
        &q.authz,
        &q.email,
        None,
    )
    .await
}

pub(super) async fn recover_page(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    Query(q): Query<Authz>,
) -> Response {
    step_page(
        &state,
        &pool,
        &headers,
        Step::Recover,
        &q.authz,
        &q.email,
        None,
    )
    .await
}

/// `POST /signup`: the same next step whether or not the address has an account.
pub(super) async fn signup(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageForm(f): PageForm<AccountForm>,
) -> Result<Response, AppError> {
    let (next, refused) = match signup::start(&state, &pool, &ip, &f.email, &f.password, None).await
    {
        Ok(()) => (Step::Confirm, None),
        Err(e) => (Step::Signup, Some(refusal(&e.into()))),
    };
    Ok(step_page(&state, &pool, &headers, next, &f.authz, &f.email, refused).await)
}

/// `POST /signup/confirm`: the code; then the person signs in.
pub(super) async fn confirm_signup(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageForm(f): PageForm<AccountForm>,
) -> Result<Response, AppError> {
    Ok(
        match signup::confirm(&state, &pool, &ip, &f.email, f.code.trim(), &f.password).await {
            Ok(()) => {
                let notice = Some("Your email is confirmed. Sign in to continue.".into());
                login_page(&state, &pool, &headers, &f.authz, &f.email, None, notice).await
            }
            Err(e) => {
                let refused = Some(refusal(&e.into()));
                step_page(
                    &state,
                    &pool,
                    &headers,
                    Step::Confirm,
                    &f.authz,
                    &f.email,
                    refused,
                )
                .await
            }
        },
    )
}

/// `POST /recover`: mails a code if the address has an account; the same page either way.
pub(super) async fn recover(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageForm(f): PageForm<AccountForm>,
) -> Result<Response, AppError> {
    let (next, refused) = match recovery::send_code(&state, &pool, &ip, &f.email).await {
        Ok(()) => (Step::Reset, None),
        Err(e) => (Step::Recover, Some(refusal(&e.into()))),
    };
    Ok(step_page(&state, &pool, &headers, next, &f.authz, &f.email, refused).await)
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
    let code = f.code.trim();
    match recovery::recover(&state, &pool, &ip, &f.email, code, Some(&f.password)).await {
        Ok(issued) => signed_in(&state, &pool, &headers, &issued.session, &f.authz).await,
        Err(e) => {
            let refused = Some(refusal(&e.into()));
            Ok(step_page(
                &state,
                &pool,
                &headers,
                Step::Reset,
                &f.authz,
                &f.email,
                refused,
            )
            .await)
        }
    }
}

#[derive(Deserialize)]
pub(super) struct UndoQuery {
    #[serde(default)]
    token: String,
}

/// The undo page's form: a button, so that a mail scanner following the link changes
/// nothing (GET is safe; the POST carries the CSRF token).
fn undo_form(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    token: &str,
    refused: Option<(StatusCode, String)>,
) -> Response {
    let (csrf, set) = browser::csrf_token(state, headers);
    let body = format!(
        r#"<form id="undo-form" method="post" action="{b}/email-change/undo" novalidate>
{csrf}{token}
<p>This gives your account this email address back, signs out every session, and sends a recovery code to this address so you can choose a new password.</p>
<button type="submit">Undo the change</button>
</form>"#,
        b = base(pool),
        csrf = hidden("csrf", &csrf),
        token = hidden("token", token),
    );
    render(
        pool,
        Page {
            title: "Undo the email change".into(),
            refused,
            body,
            ..Page::default()
        },
        set.as_slice(),
    )
}

/// `GET /email-change/undo?token=…`: the link mailed to the old address of an email change.
pub(super) async fn undo_page(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    Query(q): Query<UndoQuery>,
) -> Response {
    undo_form(&state, &pool, &headers, &q.token, None)
}

/// `POST /email-change/undo`: undoes the change, then sends the person to recovery.
pub(super) async fn undo_email_change(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageForm(f): PageForm<AccountForm>,
) -> Result<Response, AppError> {
    Ok(
        match recovery::undo_email_change(&state, &pool, &ip, &f.token).await {
            // The recovery code went to the restored address: the next step is the code and
            // a new password.
            Ok(restored) => {
                step_page(&state, &pool, &headers, Step::Reset, "", &restored, None).await
            }
            Err(e) => undo_form(&state, &pool, &headers, &f.token, Some(refusal(&e.into()))),
        },
    )
}
