//! `/signup` (email and password, then the emailed code) and `/recover` (the emailed code
//! and a new password). Answers never tell whether an address has an account (DESIGN rule 5).

use accounts::store::PoolRecord;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::login::{Authz, form_target, login_page};
use super::{FormState, Frame, PageForm, refusal, respond};
use crate::flows::{recovery, signup};
use crate::http::browser;
use crate::http::error::AppError;
use crate::http::extract::{Caller, ClientIp, Pool};
use crate::state::AppState;
use crate::words::{fill, words};

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

#[derive(Template)]
#[template(path = "pages/signup.html")]
struct SignupPage<'a> {
    frame: Frame<'a>,
    form: FormState<'a>,
    min_password: usize,
    password_hint: String,
}

#[derive(Template)]
#[template(path = "pages/signup_confirm.html")]
struct ConfirmPage<'a> {
    frame: Frame<'a>,
    form: FormState<'a>,
}

#[derive(Template)]
#[template(path = "pages/recover.html")]
struct RecoverPage<'a> {
    frame: Frame<'a>,
    form: FormState<'a>,
}

#[derive(Template)]
#[template(path = "pages/recover_reset.html")]
struct ResetPage<'a> {
    frame: Frame<'a>,
    form: FormState<'a>,
    min_password: usize,
    password_hint: String,
}

#[derive(Template)]
#[template(path = "pages/undo_email_change.html")]
struct UndoPage<'a> {
    frame: Frame<'a>,
    csrf: String,
    token: &'a str,
}

/// The page of `step`, keeping the pending authorization and the email, with `refused`
/// shown and its status. The steps after a mail keep the email hidden and say where the
/// code went (whether or not the address has an account). The new-password fields state
/// the pool's own minimum length: the rule lives once, in the pool's policy.
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
    let p = &words().page;
    let form = FormState::new(csrf, authz, email);
    let min_password = pool.config.password_min_length;
    let password_hint = fill(p.new_password_hint, &[("min", &min_password.to_string())]);
    let status = refused.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let error = refused.map(|(_, e)| e);
    let frame = |title| {
        let mut f = Frame::new(pool, title);
        f.error = error.clone();
        f
    };
    let sent = |words: &str| Some(fill(words, &[("email", email)]));
    // A form that may end the authorization redirects to the client.
    let target = form_target(state, pool, authz).await;
    let target = target.as_deref();
    let set = set.as_slice();
    match step {
        Step::Signup => {
            let page = SignupPage {
                frame: frame(p.signup_title),
                form,
                min_password,
                password_hint,
            };
            respond(pool, &page, status, target, set)
        }
        Step::Confirm => {
            let mut frame = frame(p.confirm_title);
            frame.notice = sent(p.confirm_sent);
            respond(pool, &ConfirmPage { frame, form }, status, target, set)
        }
        Step::Recover => {
            let frame = frame(p.recover_title);
            respond(pool, &RecoverPage { frame, form }, status, target, set)
        }
        Step::Reset => {
            let mut frame = frame(p.reset_title);
            frame.notice = sent(p.reset_sent);
            let page = ResetPage {
                frame,
                form,
                min_password,
                password_hint,
            };
            respond(pool, &page, status, target, set)
        }
    }
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
    caller: Caller,
    headers: HeaderMap,
    PageForm(f): PageForm<AccountForm>,
) -> Result<Response, AppError> {
    let (next, refused) = match signup::start(&state, &pool, &caller, &f.email, &f.password, None)
        .await
    {
        // Confirmed by the pool's hook: no code comes; the person signs in.
        Ok(true) => {
            let notice = Some(words().page.email_confirmed.into());
            return Ok(login_page(&state, &pool, &headers, &f.authz, &f.email, None, notice).await);
        }
        Ok(false) => (Step::Confirm, None),
        Err(e) => (Step::Signup, Some(refusal(&e.into()))),
    };
    Ok(step_page(&state, &pool, &headers, next, &f.authz, &f.email, refused).await)
}

/// `POST /signup/confirm`: the code; then the person signs in.
pub(super) async fn confirm_signup(
    State(state): State<AppState>,
    Pool(pool): Pool,
    caller: Caller,
    headers: HeaderMap,
    PageForm(f): PageForm<AccountForm>,
) -> Result<Response, AppError> {
    Ok(
        match signup::confirm(&state, &pool, &caller, &f.email, f.code.trim(), &f.password).await {
            Ok(()) => {
                let notice = Some(words().page.email_confirmed.into());
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
    caller: Caller,
    headers: HeaderMap,
    PageForm(f): PageForm<AccountForm>,
) -> Result<Response, AppError> {
    let code = f.code.trim();
    match recovery::recover(&state, &pool, &caller, &f.email, code, Some(&f.password)).await {
        Ok(outcome) => {
            super::mfa::after_first_factor(&state, &pool, &headers, &f.authz, outcome).await
        }
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
    let mut frame = Frame::new(pool, words().page.undo_title);
    let status = refused.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    frame.error = refused.map(|(_, e)| e);
    let page = UndoPage { frame, csrf, token };
    respond(pool, &page, status, None, set.as_slice())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::pages::test_pool;

    const EVIL: &str = r#"a'b"<script>@example.com"#;

    #[test]
    fn the_new_password_fields_state_the_pools_own_minimum() {
        let pool = test_pool("Acme");
        let hint = fill(words().page.new_password_hint, &[("min", "12")]);
        let signup = SignupPage {
            frame: Frame::new(&pool, words().page.signup_title),
            form: FormState::new("c".into(), "", EVIL),
            min_password: pool.config.password_min_length,
            password_hint: hint.clone(),
        }
        .render()
        .unwrap();
        assert!(signup.contains(r#"minlength="12""#), "{signup}");
        assert!(signup.contains("At least 12 characters."));
        assert!(!signup.contains(r#"minlength="8""#));
        assert!(signup.contains(
            r#"<form id="signup-form" method="post" action="/pools/main/signup" novalidate>"#
        ));
        assert!(
            signup.contains(r#"value="a&#39;b&#34;&#60;script&#62;@example.com""#),
            "{signup}"
        );
        assert!(signup.contains(r#"<nav><a href="/pools/main/login">Back to sign in</a></nav>"#));
        let reset = ResetPage {
            frame: Frame::new(&pool, words().page.reset_title),
            form: FormState::new("c".into(), "z", EVIL),
            min_password: 12,
            password_hint: hint,
        }
        .render()
        .unwrap();
        assert!(reset.contains(r#"<form id="reset-form" method="post" action="/pools/main/recover/confirm" novalidate>"#));
        assert!(reset.contains(r#"minlength="12""#));
        assert!(reset.contains(r#"<input type="hidden" name="email" value="a&#39;b"#));
        assert!(reset.contains(r#"autocomplete="one-time-code""#));
    }

    #[test]
    fn the_steps_after_a_mail_escape_the_address_in_their_notice() {
        let pool = test_pool("Acme");
        let mut frame = Frame::new(&pool, words().page.confirm_title);
        frame.notice = Some(fill(words().page.confirm_sent, &[("email", EVIL)]));
        let html = ConfirmPage {
            frame,
            form: FormState::new("c".into(), "", EVIL),
        }
        .render()
        .unwrap();
        assert!(
            html.contains("If a&#39;b&#34;&#60;script&#62;@example.com can be used"),
            "{html}"
        );
        assert!(!html.contains("<script>"));
        assert!(html.contains(r#"<form id="confirm-form""#));
        let html = UndoPage {
            frame: Frame::new(&pool, words().page.undo_title),
            csrf: "c".into(),
            token: "<t>",
        }
        .render()
        .unwrap();
        assert!(html.contains(r#"<form id="undo-form" method="post" action="/pools/main/email-change/undo" novalidate>"#));
        assert!(html.contains(r#"<input type="hidden" name="token" value="&#60;t&#62;">"#));
    }
}
