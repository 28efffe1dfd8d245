//! `/federation/{idp}/start` and `/federation/{idp}/callback`: signing in through an upstream
//! IdP from the hosted login page (or from `/oauth2/authorize?...&idp=…`, which skips it),
//! and linking one to the signed-in account (`?link=1`). The use case is
//! `flows::federation`; here are its cookies, redirects and pages.

use accounts::store::PoolRecord;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{error_page, login::login_page, refusal};
use crate::federation::Error as Upstream;
use crate::flows::federation::{self, Callback, Done, Error};
use crate::http::browser::{self, FederationCookie};
use crate::http::error::{AppError, Code};
use crate::http::extract::{Caller, Pool};
use crate::http::see_other;
use crate::state::AppState;
use crate::words::{fill, words};

#[derive(Deserialize, Default)]
pub(super) struct StartQuery {
    #[serde(default)]
    authz: String,
    #[serde(default)]
    link: Option<String>,
}

/// What the IdP sends back (the query, or Apple's `form_post` body).
#[derive(Deserialize, Default)]
pub(super) struct CallbackParams {
    #[serde(default)]
    state: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

/// A federated flow's failure as a page: its code's status and words.
fn failure_page(pool: &PoolRecord, e: Error, cookies: &[HeaderValue]) -> Response {
    let of = |c: Code| (c.status(), c.words().to_string());
    let (status, text) = match e {
        Error::StateInvalid => of(Code::FederationStateInvalid),
        Error::Denied(_) | Error::Upstream(Upstream::Refused(_)) => of(Code::FederationFailed),
        Error::Upstream(Upstream::Unavailable(_)) => of(Code::IdpUnavailable),
        Error::Flow(f) => refusal(&f.into()),
    };
    super::message(pool, words_title(), None, Some((status, &text)), cookies)
}

fn words_title() -> &'static str {
    words().page.sign_in_title
}

/// `GET /federation/{idp}/start[?authz=…][&link=1]`: to the IdP, with a fresh browser
/// binding. `link=1` needs the browser's session: the identity links to its account.
pub(super) async fn start(
    State(state): State<AppState>,
    Pool(pool): Pool,
    Path((_, idp)): Path<(String, String)>,
    headers: HeaderMap,
    Query(q): Query<StartQuery>,
) -> Result<Response, AppError> {
    let link = match q.link.as_deref() {
        Some("1") | Some("true") => match browser::session(&state, &pool, &headers).await? {
            Some(s) => Some(s.account_id),
            None => {
                let code = Code::ReauthenticationRequired;
                let refused = Some((code.status(), code.words().to_string()));
                return Ok(login_page(&state, &pool, &headers, &q.authz, "", refused, None).await);
            }
        },
        _ => None,
    };
    match federation::start(&state, &pool, &idp, &q.authz, link).await {
        Ok(started) => {
            let cookie = FederationCookie::Binding.set(&state, &started.binding);
            Ok(see_other(&started.location, &[cookie]))
        }
        Err(Error::Flow(crate::flows::Error::Account(accounts::Error::IdpNotFound))) => {
            let code = Code::IdpNotFound;
            Ok(error_page(
                &pool,
                code.status(),
                words_title(),
                code.words(),
            ))
        }
        Err(e) => {
            tracing::warn!(idp, error = %e, "a federated sign-in could not start");
            Ok(failure_page(&pool, e, &[]))
        }
    }
}

/// `GET /federation/{idp}/callback?state&code` (or `error`).
pub(super) async fn callback_get(
    State(state): State<AppState>,
    Pool(pool): Pool,
    Path((_, idp)): Path<(String, String)>,
    caller: Caller,
    headers: HeaderMap,
    Query(p): Query<CallbackParams>,
) -> Result<Response, AppError> {
    callback(&state, &pool, &idp, &caller, &headers, p).await
}

/// `POST /federation/{idp}/callback` (`response_mode=form_post`, Apple's): a cross-site
/// POST, so no CSRF token of ours: the `state`, taken once and bound to this browser, is
/// what proves it answers a sign-in started here.
pub(super) async fn callback_post(
    State(state): State<AppState>,
    Pool(pool): Pool,
    Path((_, idp)): Path<(String, String)>,
    caller: Caller,
    headers: HeaderMap,
    axum::Form(p): axum::Form<CallbackParams>,
) -> Result<Response, AppError> {
    callback(&state, &pool, &idp, &caller, &headers, p).await
}

async fn callback(
    state: &AppState,
    pool: &PoolRecord,
    idp: &str,
    caller: &Caller,
    headers: &HeaderMap,
    p: CallbackParams,
) -> Result<Response, AppError> {
    let binding = FederationCookie::Binding.read(state, headers);
    let cb = Callback {
        state: &p.state,
        code: p.code.as_deref(),
        error: p.error.as_deref(),
        binding: binding.as_deref(),
        apple_user: p.user.as_deref(),
    };
    let outcome = federation::callback(state, pool, idp, caller, &cb).await;
    finish(state, pool, headers, outcome).await
}

/// `GET /saml/{idp}/metadata`: the SP's metadata, for the IdP's administrator.
pub(super) async fn saml_metadata(
    State(state): State<AppState>,
    Pool(pool): Pool,
    Path((_, idp)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let idp = state.users.identity_provider(&pool, &idp).await?;
    if idp.config.kind != accounts::idp::IdpKind::Saml {
        return Err(accounts::Error::IdpNotFound.into());
    }
    let sp = federation::SpUrls::of(&state, &pool, &idp);
    let mut res = crate::federation::saml::sp_metadata(&sp.sp()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/samlmetadata+xml"),
    );
    Ok(res)
}

#[derive(Deserialize, Default)]
pub(super) struct AcsForm {
    #[serde(default, rename = "SAMLResponse")]
    response: String,
    #[serde(default, rename = "RelayState")]
    relay_state: String,
}

/// `POST /saml/{idp}/acs`: the IdP's Response (HTTP-POST binding). A cross-site POST like
/// Apple's `form_post`: the `RelayState`, taken once and bound to this browser, proves it
/// answers a sign-in started here.
pub(super) async fn saml_acs(
    State(state): State<AppState>,
    Pool(pool): Pool,
    Path((_, idp)): Path<(String, String)>,
    caller: Caller,
    headers: HeaderMap,
    axum::Form(form): axum::Form<AcsForm>,
) -> Result<Response, AppError> {
    let binding = FederationCookie::Binding.read(&state, &headers);
    let post = federation::SamlPost {
        response: &form.response,
        relay_state: &form.relay_state,
        binding: binding.as_deref(),
    };
    let outcome = federation::saml_acs(&state, &pool, &idp, &caller, &post).await;
    finish(&state, &pool, &headers, outcome).await
}

/// How a federated sign-in ends in the browser: signed in (or a second factor), the account
/// page after a link, the login page asking for the account a trusted email has, or what
/// went wrong in words. The binding cookie goes in every case.
async fn finish(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    outcome: Result<Done, Error>,
) -> Result<Response, AppError> {
    let clear = FederationCookie::Binding.clear(state);
    let done = match outcome {
        Ok(done) => done,
        Err(e) => return Ok(failure_page(pool, e, &[clear])),
    };
    let mut res = match done {
        Done::SignedIn { outcome, authz } => {
            super::mfa::after_first_factor(state, pool, headers, &authz, outcome).await?
        }
        Done::Linked { .. } => see_other(&format!("{}/account", super::base(pool)), &[]),
        Done::LinkFirst {
            handle,
            email,
            idp_name,
            authz,
        } => {
            let notice = fill(
                words().page.link_first,
                &[("email", email.as_str()), ("idp", idp_name.as_str())],
            );
            let mut res =
                login_page(state, pool, headers, &authz, &email, None, Some(notice)).await;
            res.headers_mut().append(
                header::SET_COOKIE,
                FederationCookie::LinkWait.set(state, &handle),
            );
            res
        }
    };
    res.headers_mut().append(header::SET_COOKIE, clear);
    Ok(res)
}

/// The IdP buttons of the login page: the pool's enabled IdPs.
pub(super) struct IdpButton {
    /// The IdP's name in the pool.
    pub idp: String,
    pub display_name: String,
    pub href: String,
    pub label: String,
    /// The preset's name (its icon), or `generic`.
    pub brand: &'static str,
}

pub(super) async fn buttons(
    state: &AppState,
    pool: &PoolRecord,
    authz_query: &str,
) -> Vec<IdpButton> {
    let idps = match state.users.identity_providers(pool).await {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "the login page's IdP buttons");
            return Vec::new();
        }
    };
    idps.into_iter()
        .filter(|i| i.config.enabled)
        .map(|i| IdpButton {
            idp: i.name.clone(),
            display_name: i.config.display_name.clone(),
            href: format!(
                "{}/federation/{}/start{authz_query}",
                super::base(pool),
                i.name
            ),
            label: fill(
                words().page.sign_in_with,
                &[("idp", i.config.display_name.as_str())],
            ),
            brand: match i.config.preset {
                Some(accounts::idp::Preset::Google) => "google",
                Some(accounts::idp::Preset::Microsoft) => "microsoft",
                Some(accounts::idp::Preset::Apple) => "apple",
                Some(accounts::idp::Preset::Github) => "github",
                None => "generic",
            },
        })
        .collect()
}
