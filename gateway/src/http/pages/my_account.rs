//! `/account`: the signed-in person's own page (the browser session's account): profile,
//! email, password, wallets, groups, where they are signed in (each session can be signed
//! out), and deleting the account (a sign-in within 15 minutes and a ticked box).

use accounts::AccountView;
use accounts::store::PoolRecord;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{CsrfToken, Frame, PageForm, message, refusal, respond};
use crate::flows::account::REAUTH_WINDOW;
use crate::http::browser;
use crate::http::error::{AppError, Code};
use crate::http::extract::Pool;
use crate::http::see_other;
use crate::state::AppState;
use crate::words::{AccountWords, fill, words};

#[derive(Template)]
#[template(path = "pages/account.html")]
struct AccountPage<'a> {
    frame: Frame<'a>,
    a: &'static AccountWords,
    csrf: String,
    account: &'a AccountView,
    /// The `name` attribute, if the account has one.
    name: Option<&'a str>,
    groups: String,
    sessions: Vec<SessionRow>,
    identities: Vec<IdentityRow>,
    /// The pool's IdPs the account has no identity of: links that add one.
    linkable: Vec<super::federation::IdpButton>,
}

/// A linked identity as the page lists it.
struct IdentityRow {
    idp: String,
    /// Its IdP's display name (or its name, once the IdP is gone).
    name: String,
    email: Option<String>,
}

/// A session as the page lists it.
struct SessionRow {
    id: String,
    device: String,
    method: String,
    last_used: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "pages/signed_in.html")]
struct SignedInPage<'a> {
    frame: Frame<'a>,
    a: &'static AccountWords,
}

/// "You're signed in", with a link to the account page (a sign-in that no app asked for).
pub(super) fn signed_in_page(pool: &PoolRecord, cookies: &[HeaderValue]) -> Response {
    let p = &words().page;
    let mut frame = Frame::new(pool, p.signed_in_title);
    frame.notice = Some(p.signed_in.to_string());
    let page = SignedInPage {
        frame,
        a: &words().account,
    };
    respond(pool, &page, StatusCode::OK, None, cookies)
}

#[derive(Deserialize)]
pub(super) struct SessionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
}

impl CsrfToken for SessionForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

impl CsrfToken for PasswordForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[derive(Deserialize)]
pub(super) struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

impl CsrfToken for DeleteForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `2026-12-07 10:42`.
fn utc(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// The page for the browser session's account, with `notice` or `refused` shown.
async fn account_page(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    session: &accounts::store::SessionRecord,
    notice: Option<&str>,
    refused: Option<(StatusCode, String)>,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let account = state.users.account(pool, session.account_id).await?;
    let sessions = state
        .users
        .sessions_of(session.account_id, Some(session.id), now)
        .await?
        .into_iter()
        .map(|s| SessionRow {
            id: s.id.to_string(),
            device: s.device.unwrap_or_else(|| "?".into()),
            method: s.method.join(", "),
            last_used: fill(words().account.last_used, &[("time", &utc(s.last_used_at))]),
            current: s.current,
        })
        .collect();
    let (identities, linkable) = identities(state, pool, session.account_id).await?;
    let (csrf, set) = browser::csrf_token(state, headers);
    let a = &words().account;
    let mut frame = Frame::new(pool, a.title);
    frame.notice = notice.map(str::to_string);
    let status = refused.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    frame.error = refused.map(|(_, e)| e);
    let page = AccountPage {
        frame,
        a,
        csrf,
        account: &account,
        name: account.attributes.get("name").and_then(|v| v.as_str()),
        groups: account.groups.join(", "),
        sessions,
        identities,
        linkable,
    };
    Ok(respond(pool, &page, status, None, set.as_slice()))
}

/// The account's identities, and buttons linking the pool's other enabled IdPs.
async fn identities(
    state: &AppState,
    pool: &PoolRecord,
    account: accounts::AccountId,
) -> Result<(Vec<IdentityRow>, Vec<super::federation::IdpButton>), AppError> {
    let linked = state.users.identities(account).await?;
    let idps = state.users.identity_providers(pool).await?;
    let name_of = |idp: &str| {
        idps.iter()
            .find(|i| i.name == idp)
            .map_or_else(|| idp.to_string(), |i| i.config.display_name.clone())
    };
    let rows = linked
        .iter()
        .map(|i| IdentityRow {
            idp: i.idp.clone(),
            name: name_of(&i.idp),
            email: i.email.clone(),
        })
        .collect();
    let linkable = super::federation::buttons(state, pool, "?link=1")
        .await
        .into_iter()
        .filter(|b| !linked.iter().any(|i| b.idp == i.idp))
        .map(|mut b| {
            b.label = fill(words().account.link_identity, &[("idp", &b.display_name)]);
            b
        })
        .collect();
    Ok((rows, linkable))
}

#[derive(Deserialize)]
pub(super) struct IdentityForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    idp: String,
}

impl CsrfToken for IdentityForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /account/identities/remove`: unlinks one of the account's identities (a sign-in
/// within 15 minutes on this browser), unless it is the last credential that can sign in.
pub(super) async fn unlink_identity(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    PageForm(form): PageForm<IdentityForm>,
) -> Result<Response, AppError> {
    let Some(session) = browser::session(&state, &pool, &headers).await? else {
        return Ok(see_other(&format!("/pools/{}/login", pool.name), &[]));
    };
    let now = state.clock.now();
    if now - session.auth_time > REAUTH_WINDOW {
        let refused = refusal(&accounts::Error::ReauthenticationRequired.into());
        return account_page(&state, &pool, &headers, &session, None, Some(refused)).await;
    }
    match state
        .users
        .unlink_identity(&pool, session.account_id, &form.idp, now)
        .await
    {
        Ok(()) => {
            state.mail.wake();
            let done = Some(words().account.identity_unlinked);
            account_page(&state, &pool, &headers, &session, done, None).await
        }
        Err(e) => {
            let refused = refusal(&e.into());
            account_page(&state, &pool, &headers, &session, None, Some(refused)).await
        }
    }
}

/// `GET /account`; without a browser session, the login page.
pub(super) async fn page(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some(session) = browser::session(&state, &pool, &headers).await? else {
        return Ok(see_other(&format!("/pools/{}/login", pool.name), &[]));
    };
    account_page(&state, &pool, &headers, &session, None, None).await
}

/// `POST /account/sessions/end`: signs one of the account's sessions out.
pub(super) async fn end_session(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    PageForm(form): PageForm<SessionForm>,
) -> Result<Response, AppError> {
    let Some(session) = browser::session(&state, &pool, &headers).await? else {
        return Ok(see_other(&format!("/pools/{}/login", pool.name), &[]));
    };
    let Some(id) = accounts::SessionId::parse(&form.id) else {
        let refused = refusal(&AppError::refused(Code::SessionNotFound, "no such session"));
        return account_page(&state, &pool, &headers, &session, None, Some(refused)).await;
    };
    let now = state.clock.now();
    match state
        .users
        .end_own_session(&pool, session.account_id, id, now)
        .await
    {
        Ok(()) if id == session.id => Ok(see_other(
            &format!("/pools/{}/login", pool.name),
            &[browser::end_session(&state, &pool)],
        )),
        Ok(()) => {
            let ended = Some(words().account.session_ended);
            account_page(&state, &pool, &headers, &session, ended, None).await
        }
        Err(accounts::Error::InvalidRefreshToken) => {
            let refused = refusal(&AppError::refused(Code::SessionNotFound, "no such session"));
            account_page(&state, &pool, &headers, &session, None, Some(refused)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/password`: sets or changes the password (the current one when there is
/// one; otherwise a recent sign-in), as `POST /v1/me/password` does.
pub(super) async fn change_password(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    PageForm(form): PageForm<PasswordForm>,
) -> Result<Response, AppError> {
    let Some(session) = browser::session(&state, &pool, &headers).await? else {
        return Ok(see_other(&format!("/pools/{}/login", pool.name), &[]));
    };
    let current = Some(form.current_password.as_str()).filter(|p| !p.is_empty());
    match crate::flows::account::change_password(
        &state,
        &pool,
        &session,
        current,
        &form.new_password,
    )
    .await
    {
        Ok(()) => {
            let changed = Some(words().account.password_changed);
            account_page(&state, &pool, &headers, &session, changed, None).await
        }
        Err(e) => {
            let refused = refusal(&e.into());
            account_page(&state, &pool, &headers, &session, None, Some(refused)).await
        }
    }
}

/// `POST /account/delete`: deletes the account (a ticked box, and a sign-in within 15
/// minutes on this browser).
pub(super) async fn delete(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    PageForm(form): PageForm<DeleteForm>,
) -> Result<Response, AppError> {
    let Some(session) = browser::session(&state, &pool, &headers).await? else {
        return Ok(see_other(&format!("/pools/{}/login", pool.name), &[]));
    };
    let a = &words().account;
    if form.confirm != "yes" {
        let refused = (StatusCode::BAD_REQUEST, a.delete_unconfirmed.to_string());
        return account_page(&state, &pool, &headers, &session, None, Some(refused)).await;
    }
    let now = state.clock.now();
    if now - session.auth_time > REAUTH_WINDOW {
        let refused = refusal(&accounts::Error::ReauthenticationRequired.into());
        return account_page(&state, &pool, &headers, &session, None, Some(refused)).await;
    }
    state
        .users
        .delete_own_account(&pool, session.account_id, now)
        .await?;
    state.mail.wake();
    Ok(message(
        &pool,
        a.deleted_title,
        Some(a.deleted),
        None,
        &[browser::end_session(&state, &pool)],
    ))
}
