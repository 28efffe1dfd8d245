//! `/login`: email and password, or "Sign in with Ethereum" through the browser's wallet.
//! A successful sign-in starts the browser session and, when an application sent the person
//! here (`authz`), ends its authorization with a code.

use accounts::Issued;
use accounts::store::{PoolRecord, SessionRecord};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use std::str::FromStr;

use super::{Page, PageForm, authz_query, base, esc, hidden, refusal, render, words};
use crate::flows::{self, sign_in};
use crate::http::browser;
use crate::http::error::AppError;
use crate::http::extract::{AppJson, ClientIp, Pool};
use crate::http::see_other;
use crate::oauth::flow;
use crate::ratelimit::{self, NONCES_PER_IP};
use crate::siwe;
use crate::state::AppState;

#[derive(Deserialize, Default)]
pub(super) struct Authz {
    #[serde(default)]
    pub authz: String,
    #[serde(default)]
    pub email: String,
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    authz: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
pub(super) struct WalletForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    authz: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    signature: String,
}

/// The client redirect URI a pending authorization will end at (for the page's CSP).
pub(super) async fn form_target(
    state: &AppState,
    pool: &PoolRecord,
    authz: &str,
) -> Option<String> {
    flow::load_request(state, pool, authz)
        .await
        .ok()
        .flatten()
        .map(|r| r.redirect_uri)
}

/// The login page, with `error` shown and `email` kept.
pub(super) async fn login_page(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    authz: &str,
    email: &str,
    refused: Option<(StatusCode, String)>,
    notice: Option<String>,
) -> Response {
    let (csrf, set) = browser::csrf_token(state, headers);
    let b = base(pool);
    let q = authz_query(authz);
    let body = format!(
        r#"<form id="login-form" method="post" action="{b}/login" novalidate>
{csrf_field}{authz_field}
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required value="{email}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<p class="or"><span>or</span></p>
<form id="siwe-form" method="post" action="{b}/login/siwe" data-message-url="{b}/login/siwe/message">
{csrf_field}{authz_field}<input type="hidden" name="message" value=""><input type="hidden" name="signature" value="">
<button id="siwe" type="button" class="secondary">Sign in with Ethereum</button>
<p id="siwe-status" class="status" role="status" aria-live="polite"></p>
</form>
<noscript><p>Signing in with a wallet needs JavaScript.</p></noscript>
<nav><a href="{b}/signup{q}">Create an account</a> <a href="{b}/recover{q}">Forgot your password?</a></nav>"#,
        csrf_field = hidden("csrf", &csrf),
        authz_field = hidden("authz", authz),
        email = esc(email),
    );
    render(
        pool,
        Page {
            title: "Sign in".into(),
            notice,
            refused,
            body,
            form_target: form_target(state, pool, authz).await,
            script: true,
        },
        set.as_slice(),
    )
}

/// `GET /login`.
pub(super) async fn page(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    Query(q): Query<Authz>,
) -> Response {
    login_page(&state, &pool, &headers, &q.authz, &q.email, None, None).await
}

/// After any successful sign-in on a page: the browser session starts, and a pending
/// authorization gets its code; without one, the person is told they are signed in.
pub async fn signed_in(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    session: &SessionRecord,
    authz: &str,
) -> Result<Response, AppError> {
    // Someone else signing in on this browser (a shared computer) ends the previous
    // person's browser session, and what their apps got from it; the same person signing
    // in again (prompt=login) carries their apps' sessions over to the new one.
    let now = state.clock.now();
    if let Some(previous) = browser::session(state, pool, headers).await?
        && previous.id != session.id
    {
        if previous.account_id == session.account_id {
            state
                .users
                .replace_browser_session(pool, &previous, session.id, now)
                .await?;
        } else {
            state
                .users
                .end_session_tree(pool, previous.id, "replaced", now)
                .await?;
        }
    }
    let cookie = browser::start_session(state, pool, session);
    if !authz.is_empty() {
        let Some(req) = flow::take_request(state, pool, authz).await? else {
            return Ok(render(
                pool,
                Page {
                    title: "You are signed in".into(),
                    refused: Some((StatusCode::BAD_REQUEST, words("request_expired").into())),
                    ..Page::default()
                },
                &[cookie],
            ));
        };
        let location = flows::authorize::finish(state, pool, &req, session).await?;
        return Ok(see_other(&location, &[cookie]));
    }
    Ok(render(
        pool,
        Page {
            title: "You are signed in".into(),
            notice: Some("You can close this window and go back to the application.".into()),
            ..Page::default()
        },
        &[cookie],
    ))
}

/// `POST /login`: email and password.
pub(super) async fn password(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageForm(form): PageForm<PasswordForm>,
) -> Result<Response, AppError> {
    let outcome = sign_in::password(&state, &pool, &ip, &form.email, &form.password).await;
    after_sign_in(&state, &pool, &headers, &form.authz, &form.email, outcome).await
}

/// A sign-in on the login page: signed in, or the login page again with the refusal.
async fn after_sign_in(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    authz: &str,
    email: &str,
    outcome: Result<Issued, flows::Error>,
) -> Result<Response, AppError> {
    match outcome {
        Ok(issued) => signed_in(state, pool, headers, &issued.session, authz).await,
        Err(e) => {
            let refused = Some(refusal(&e.into()));
            Ok(login_page(state, pool, headers, authz, email, refused, None).await)
        }
    }
}

/// `POST /login/siwe`: the message the wallet signed, and its signature.
pub(super) async fn wallet(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageForm(form): PageForm<WalletForm>,
) -> Result<Response, AppError> {
    // A form field's line breaks arrive as CRLF (HTML form encoding); the wallet signed
    // the message with LF, as EIP-4361 writes it.
    let message = form.message.replace("\r\n", "\n");
    let outcome = sign_in::wallet(&state, &pool, &ip, &message, &form.signature).await;
    after_sign_in(&state, &pool, &headers, &form.authz, "", outcome).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MessageRequest {
    address: String,
    chain_id: u64,
}

/// `POST /login/siwe/message {address, chain_id}`: the EIP-4361 message for the wallet to
/// sign, with a fresh nonce and this pool's domain and URI. The server writes it so the
/// address is in EIP-55 form (wallets often report lowercase) and the page needs no
/// Keccak code.
pub(super) async fn siwe_message(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    AppJson(req): AppJson<MessageRequest>,
) -> Result<Json<Value>, AppError> {
    ratelimit::hit(&state, pool.id, NONCES_PER_IP, &ip).await?;
    let address = wallet::Address::from_str(&req.address.to_ascii_lowercase())?;
    let policy = siwe::policy(&state, &pool);
    if !policy.chain_ids.contains(&req.chain_id) {
        return Err(AppError::Refused {
            status: StatusCode::BAD_REQUEST,
            code: "siwe_chain_not_allowed",
            detail: words("siwe_chain_not_allowed").into(),
        });
    }
    let (nonce, _) = siwe::issue_nonce(&state, &pool).await?;
    let now = time::OffsetDateTime::from_unix_timestamp(state.clock.now())
        .map_err(|_| AppError::Internal("the clock is out of range".into()))?;
    let issued_at = now
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|_| AppError::Internal("the clock does not format".into()))?;
    let domain = policy.domains.first().cloned().unwrap_or_default();
    let uri = policy.uri_origins.first().cloned().unwrap_or_default();
    let message = format!(
        "{domain} wants you to sign in with your Ethereum account:\n{address}\n\nSign in to {name}.\n\nURI: {uri}\nVersion: 1\nChain ID: {chain}\nNonce: {nonce}\nIssued At: {issued_at}",
        name = pool.config.display_name.replace(['\n', '\r'], " "),
        chain = req.chain_id,
    );
    Ok(Json(json!({ "message": message })))
}

impl super::CsrfToken for PasswordForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl super::CsrfToken for WalletForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
