//! `/login`: email and password, or "Sign in with Ethereum" through the browser's wallet.
//! A successful sign-in starts the browser session and, when an application sent the person
//! here (`authz`), ends its authorization with a code.

use accounts::store::{PoolRecord, SessionRecord};
use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

use super::{FormState, Frame, PageForm, message, refusal, respond};
use crate::flows::mfa::Outcome;
use crate::flows::{self, sign_in};
use crate::http::browser;
use crate::http::error::{AppError, Code};
use crate::http::extract::{AppJson, Caller, ClientIp, Pool};
use crate::http::see_other;
use crate::oauth::flow;
use crate::siwe;
use crate::state::AppState;
use crate::words::{PasskeyWords, WalletWords, fill, words};

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

#[derive(Template)]
#[template(path = "pages/login.html")]
struct LoginPage<'a> {
    frame: Frame<'a>,
    form: FormState<'a>,
    idps: Vec<super::federation::IdpButton>,
    wallet: &'static WalletWords,
    passkey: &'static PasskeyWords,
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
    let w = words();
    let mut frame = Frame::new(pool, w.page.sign_in_title);
    frame.script = true;
    frame.passkeys = true;
    frame.notice = notice;
    let status = refused.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    frame.error = refused.map(|(_, e)| e);
    let form = FormState::new(csrf, authz, email);
    let idps = super::federation::buttons(state, pool, &form.authz_query).await;
    let page = LoginPage {
        frame,
        form,
        idps,
        wallet: &w.wallet,
        passkey: &w.passkey,
    };
    let target = form_target(state, pool, authz).await;
    respond(pool, &page, status, target.as_deref(), set.as_slice())
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
    let mut cookies = vec![browser::start_session(state, pool, session)];
    // An upstream identity waiting for this sign-in (its email is this account's): the
    // person has now proved both sides, and it links. Another account's sign-in drops it.
    let wait = browser::FederationCookie::LinkWait;
    if let Some(handle) = wait.read(state, headers) {
        cookies.push(wait.clear(state));
        match flows::federation::finish_link(state, pool, &handle, session).await {
            Ok(linked) => tracing::debug!(linked, "an identity waiting to link"),
            Err(e) => tracing::warn!(error = %e, "an identity waiting to link was not linked"),
        }
    }
    let p = &words().page;
    // The application asked for a second factor this sign-in did not give: the browser
    // session starts, and the person answers one before the code is issued.
    if !authz.is_empty()
        && let Some(req) = flow::load_request(state, pool, authz).await?
        && super::needs_step_up(pool, &req, session)
    {
        return super::mfa::step_up(state, pool, headers, authz, session, &cookies).await;
    }
    if !authz.is_empty() {
        let Some(req) = flow::take_request(state, pool, authz).await? else {
            let expired = Code::RequestExpired;
            return Ok(message(
                pool,
                p.signed_in_title,
                None,
                Some((expired.status(), expired.words())),
                &cookies,
            ));
        };
        let location = flows::authorize::finish(state, pool, &req, session).await?;
        return Ok(see_other(&location, &cookies));
    }
    Ok(super::my_account::signed_in_page(pool, &cookies))
}

/// `POST /login`: email and password.
pub(super) async fn password(
    State(state): State<AppState>,
    Pool(pool): Pool,
    caller: Caller,
    headers: HeaderMap,
    PageForm(form): PageForm<PasswordForm>,
) -> Result<Response, AppError> {
    let outcome = sign_in::password(&state, &pool, &caller, &form.email, &form.password).await;
    after_sign_in(&state, &pool, &headers, &form.authz, &form.email, outcome).await
}

/// A sign-in on the login page: signed in, or the login page again with the refusal.
async fn after_sign_in(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    authz: &str,
    email: &str,
    outcome: Result<Outcome, flows::Error>,
) -> Result<Response, AppError> {
    match outcome {
        Ok(outcome) => super::mfa::after_first_factor(state, pool, headers, authz, outcome).await,
        Err(e) => {
            let refused = Some(refusal(&e.into()));
            Ok(login_page(state, pool, headers, authz, email, refused, None).await)
        }
    }
}

#[derive(Deserialize)]
pub(super) struct PasskeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    authz: String,
    #[serde(default)]
    handle: String,
    #[serde(default)]
    credential: String,
}

impl super::CsrfToken for PasskeyForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /login/passkey`: a passkey's assertion (its JSON, from the page's script) and the
/// handle of the options it answers.
pub(super) async fn passkey(
    State(state): State<AppState>,
    Pool(pool): Pool,
    caller: Caller,
    headers: HeaderMap,
    PageForm(form): PageForm<PasskeyForm>,
) -> Result<Response, AppError> {
    let outcome = match serde_json::from_str(&form.credential) {
        Ok(credential) => {
            flows::passkeys::sign_in(&state, &pool, &caller, &form.handle, credential)
                .await
                .map(|issued| Outcome::Done(Box::new(issued)))
        }
        Err(_) => Err(accounts::Error::PasskeyInvalid.into()),
    };
    after_sign_in(&state, &pool, &headers, &form.authz, "", outcome).await
}

/// `POST /login/siwe`: the message the wallet signed, and its signature.
pub(super) async fn wallet(
    State(state): State<AppState>,
    Pool(pool): Pool,
    caller: Caller,
    headers: HeaderMap,
    PageForm(form): PageForm<WalletForm>,
) -> Result<Response, AppError> {
    // A form field's line breaks arrive as CRLF (HTML form encoding); the wallet signed
    // the message with LF, as EIP-4361 writes it.
    let message = form.message.replace("\r\n", "\n");
    let outcome = sign_in::wallet(&state, &pool, &caller, &message, &form.signature).await;
    after_sign_in(&state, &pool, &headers, &form.authz, "", outcome).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MessageRequest {
    address: String,
    chain_id: u64,
}

/// The EIP-4361 message for the page's wallet to sign.
#[derive(Debug, Serialize)]
pub(super) struct SiweMessageResponse {
    message: String,
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
) -> Result<Json<SiweMessageResponse>, AppError> {
    let address = wallet::Address::from_str(&req.address.to_ascii_lowercase())?;
    let policy = siwe::policy(&state, &pool);
    if !policy.chain_ids.contains(&req.chain_id) {
        // The page's script shows this detail to the person.
        let code = Code::SiweChainNotAllowed;
        return Err(AppError::refused(code, code.words()));
    }
    let (nonce, _) = siwe::issue_nonce_for(&state, &pool, &ip).await?;
    let now = time::OffsetDateTime::from_unix_timestamp(state.clock.now())
        .map_err(|_| AppError::Internal("the clock is out of range".into()))?;
    let issued_at = now
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|_| AppError::Internal("the clock does not format".into()))?;
    let domain = policy.domains.first().cloned().unwrap_or_default();
    let uri = policy.uri_origins.first().cloned().unwrap_or_default();
    let name = pool.config.display_name.replace(['\n', '\r'], " ");
    let statement = fill(words().wallet.statement, &[("name", &name)]);
    let message = format!(
        "{domain} wants you to sign in with your Ethereum account:\n{address}\n\n{statement}\n\nURI: {uri}\nVersion: 1\nChain ID: {chain}\nNonce: {nonce}\nIssued At: {issued_at}",
        chain = req.chain_id,
    );
    Ok(Json(SiweMessageResponse { message }))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::pages::test_pool;

    #[test]
    fn the_login_page_keeps_its_fields_and_escapes_the_email() {
        let pool = test_pool("Acme");
        let mut frame = Frame::new(&pool, words().page.sign_in_title);
        frame.script = true;
        frame.error = Some(Code::InvalidCredentials.words().into());
        let page = LoginPage {
            frame,
            form: FormState::new("c1".into(), "a/b+c", r#""><script>x</script>"#),
            idps: Vec::new(),
            wallet: &words().wallet,
            passkey: &words().passkey,
        };
        let html = page.render().unwrap();
        assert!(html.contains(
            r#"<form id="login-form" method="post" action="/pools/main/login" novalidate>"#
        ));
        assert!(html.contains(r#"<input type="hidden" name="csrf" value="c1">"#));
        assert!(html.contains(r#"<input type="hidden" name="authz" value="a/b+c">"#));
        assert!(
            html.contains(r#"value="&#34;&#62;&#60;script&#62;x&#60;/script&#62;""#),
            "{html}"
        );
        assert!(!html.contains("<script>x"));
        assert!(html.contains(r#"<label for="email">Email</label>"#));
        assert!(html.contains(r#"<script src="/pools/main/assets/login.js" defer></script>"#));
        assert!(
            html.contains(r#"href="/pools/main/signup?authz=a%2Fb%2Bc""#),
            "{html}"
        );
        assert!(html.contains(r#"data-message-url="/pools/main/login/siwe/message""#));
        assert!(html.contains(r#"data-declined="You declined the request in your wallet."#));
        assert!(html.contains(
            r#"<button id="siwe" type="button" class="secondary">Sign in with Ethereum</button>"#
        ));
        assert!(html.contains("don&#39;t match an account"));
        assert!(html.contains(r#"role="alert""#) && html.contains(r#"aria-live="polite""#));
    }
}
