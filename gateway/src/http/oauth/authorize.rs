//! `GET /oauth2/authorize` (the code flow, OIDC Core §3.1.2) and RP-initiated logout
//! (`GET`/`POST /oauth2/logout`, OpenID Connect RP-Initiated Logout 1.0).
//!
//! An unknown client or an unregistered redirect URI is shown on a page and never
//! redirected; a live browser session answers at once with a code (single sign-on across the
//! pool's clients) unless `prompt=login` or `max_age` asks for a fresh sign-in; otherwise the
//! checked request waits in the ephemeral store while the person signs in on `/login`.

use accounts::clients::ClientRecord;
use accounts::store::{PoolRecord, SessionRecord};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;
use std::collections::HashMap;
use url::Url;

use crate::flows;
use crate::http::browser;
use crate::http::error::AppError;
use crate::http::extract::Pool;
use crate::http::pages::{self, PageForm};
use crate::http::see_other;
use crate::oauth::flow;
use crate::oauth::request::{self, Prompt, Refused, ShownError};
use crate::state::AppState;
use crate::words::words;

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

async fn client(
    state: &AppState,
    pool: &PoolRecord,
    id: Option<&str>,
) -> Result<Option<ClientRecord>, AppError> {
    let Some(id) = id.filter(|i| !i.is_empty() && i.len() <= 128) else {
        return Ok(None);
    };
    match state.users.find_client(pool, id).await {
        Ok(c) => Ok(Some(c)),
        Err(accounts::Error::ClientNotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The authorization endpoint (OIDC Core §3.1.2.1, RFC 6749 §4.1.1, PKCE S256 required).
/// Answers with a redirect: to the client with a code (a live browser session) or an error,
/// or to the hosted login page; an unknown client or redirect URI is shown on a page.
#[utoipa::path(get, path = "/oauth2/authorize",
    params(
        ("response_type" = String, Query, description = "`code`"),
        ("client_id" = String, Query),
        ("redirect_uri" = String, Query, description = "Registered for the client, exactly"),
        ("scope" = Option<String>, Query, description = "Space-separated; `openid` for an ID token"),
        ("state" = Option<String>, Query),
        ("nonce" = Option<String>, Query),
        ("code_challenge" = String, Query, description = "RFC 7636"),
        ("code_challenge_method" = String, Query, description = "`S256`"),
        ("prompt" = Option<String>, Query, description = "`none` or `login`"),
        ("max_age" = Option<i64>, Query, description = "Seconds since the last sign-in, at most"),
        ("idp" = Option<String>, Query, description = "An identity provider of the pool: straight to it, past the login page (`identity_provider`, Cognito's name, is read too)"),
    ),
    responses(
        (status = 303, description = "To the client's redirect URI (a code or an error), or to the login page"),
        (status = 400, description = "An unknown client or redirect URI, shown to the person", body = String, content_type = "text/html"),
    ))]
pub(super) async fn authorize(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let params = query_pairs(raw.as_deref());
    let client_id = params
        .iter()
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.as_str());
    let client = client(&state, &pool, client_id).await?;
    let issuer = state.config.issuer(&pool.name);
    let req = match request::check(&params, client.as_ref()) {
        Ok(r) => r,
        Err(Refused::Shown(e)) => {
            let p = &words().page;
            let why = match e {
                ShownError::UnknownClient => p.unknown_client,
                ShownError::UnregisteredRedirect => p.unregistered_redirect,
            };
            return Ok(pages::error_page(
                &pool,
                StatusCode::BAD_REQUEST,
                p.bad_authorize_link,
                why,
            ));
        }
        Err(Refused::Redirected(e)) => return Ok(see_other(&e.location(&issuer), &[])),
    };
    let now = state.clock.now();
    let mut page = "login";
    if req.prompt != Prompt::Login
        && let Some(session) = browser::session(&state, &pool, &headers).await?
        && req.max_age.is_none_or(|age| now - session.auth_time <= age)
    {
        if !pages::needs_step_up(&pool, &req, &session) {
            let location = flows::authorize::finish(&state, &pool, &req, &session).await?;
            return Ok(see_other(&location, &[]));
        }
        // Signed in, without the second factor `acr_values=mfa` asks for: only that.
        page = "login/step-up";
    }
    if req.prompt == Prompt::None {
        let (error, description) = match page {
            "login" => ("login_required", "the person is not signed in"),
            _ => ("interaction_required", "a second factor is needed"),
        };
        let e = request::RedirectedError {
            redirect_uri: req.redirect_uri,
            error,
            description: description.into(),
            state: req.state,
        };
        return Ok(see_other(&e.location(&issuer), &[]));
    }
    let id = flow::save_request(&state, &pool, &req).await?;
    // `idp=x` (Cognito: `identity_provider=x`): the sign-in goes straight to that IdP.
    let idp = params
        .iter()
        .find(|(k, _)| k == "idp" || k == "identity_provider")
        .map(|(_, v)| v.as_str())
        .filter(|v| accounts::idp::valid_name(v));
    let target = match (page, idp) {
        ("login", Some(idp)) => format!("federation/{idp}/start"),
        _ => page.to_string(),
    };
    let mut login = Url::parse(&format!("{issuer}/{target}"))
        .map_err(|_| AppError::Internal("the issuer is not a URL".into()))?;
    login.query_pairs_mut().append_pair("authz", &id);
    Ok(see_other(login.as_str(), &[]))
}

/// The client an ID token hint names, if the hint is an ID token this pool signed (expired
/// ones too: a hint only identifies, §2). None for anything else.
async fn hinted_client(
    state: &AppState,
    pool: &PoolRecord,
    hint: &str,
) -> Result<Option<(String, String)>, AppError> {
    let keys = state.keys.keys(pool.id, state.clock.now()).await?;
    let Some((header, claims)) = keys.verify(hint) else {
        return Ok(None);
    };
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    if s(&header, "typ").as_deref() != Some("JWT")
        || s(&claims, "iss") != Some(state.config.issuer(&pool.name))
    {
        return Ok(None);
    }
    Ok(s(&claims, "aud").zip(s(&claims, "sub")))
}

/// What a logout request asks, checked: where to go afterwards (registered for the client,
/// exactly) and whether the ID token hint proves the request came from the person's app.
struct Logout {
    redirect: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
    /// The hint named the signed-in account: no confirmation needed.
    confirmed: bool,
}

async fn check_logout(
    state: &AppState,
    pool: &PoolRecord,
    params: &HashMap<String, String>,
    session: Option<&SessionRecord>,
) -> Result<Result<Logout, &'static str>, AppError> {
    let p = &words().page;
    let hinted = match params.get("id_token_hint") {
        Some(h) => match hinted_client(state, pool, h).await? {
            Some(x) => Some(x),
            None => {
                return Ok(Err(p.logout_foreign_token));
            }
        },
        None => None,
    };
    let client_id = match (params.get("client_id"), &hinted) {
        (Some(c), Some((aud, _))) if c != aud => {
            return Ok(Err(p.logout_two_clients));
        }
        (Some(c), _) => Some(c.clone()),
        (None, Some((aud, _))) => Some(aud.clone()),
        (None, None) => None,
    };
    let redirect = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let client = client(state, pool, client_id.as_deref()).await?;
            // Never an open redirect: only a URI registered for the named client, exactly.
            match client {
                Some(c) if c.config.post_logout_redirect_uris.iter().any(|u| u == uri) => {
                    Some(uri.clone())
                }
                _ => {
                    return Ok(Err(p.logout_unregistered_redirect));
                }
            }
        }
    };
    let confirmed = match (session, &hinted) {
        (Some(s), Some((_, sub))) => s.account_id.to_string() == *sub,
        (None, _) => true,
        (Some(_), None) => false,
    };
    Ok(Ok(Logout {
        redirect,
        state: params.get("state").cloned(),
        client_id,
        confirmed,
    }))
}

fn invalid_logout(pool: &PoolRecord, why: &str) -> Response {
    let title = words().page.bad_logout_link;
    pages::error_page(pool, StatusCode::BAD_REQUEST, title, why)
}

/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2): ends the browser
/// session, asking the person first unless the ID token hint names them, then redirects to
/// a registered URI or shows a page.
#[utoipa::path(get, path = "/oauth2/logout",
    params(
        ("id_token_hint" = Option<String>, Query, description = "An ID token this pool issued"),
        ("client_id" = Option<String>, Query),
        ("post_logout_redirect_uri" = Option<String>, Query, description = "Registered for the client, exactly"),
        ("state" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "Signed out, or a page asking the person to confirm", body = String, content_type = "text/html"),
        (status = 303, description = "Signed out: to the registered redirect URI"),
        (status = 400, description = "A request that cannot be honoured, shown to the person", body = String, content_type = "text/html"),
    ))]
pub(super) async fn logout(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, AppError> {
    let Ok(params) = super::single_params(query_pairs(raw.as_deref())) else {
        return Ok(invalid_logout(
            &pool,
            words().page.logout_repeated_parameter,
        ));
    };
    let session = browser::session(&state, &pool, &headers).await?;
    let logout = match check_logout(&state, &pool, &params, session.as_ref()).await? {
        Ok(l) => l,
        Err(why) => {
            return Ok(invalid_logout(&pool, why));
        }
    };
    if !logout.confirmed {
        // Without proof that the person's own app asked, ask the person (§2: the OP
        // SHOULD ask when the hint is missing or names someone else).
        return Ok(pages::logout_confirm(
            &state,
            &pool,
            &headers,
            logout.client_id.as_deref(),
            logout.redirect.as_deref(),
            logout.state.as_deref(),
        ));
    }
    finish_logout(&state, &pool, session.as_ref(), &logout).await
}

/// `POST /oauth2/logout`: the person confirmed on the page (its form, with its CSRF token).
#[utoipa::path(post, path = "/oauth2/logout",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded",
        description = "The confirmation page's form: `csrf` and the request's parameters"),
    responses(
        (status = 200, description = "Signed out", body = String, content_type = "text/html"),
        (status = 303, description = "Signed out: to the registered redirect URI"),
        (status = 400, description = "A request that cannot be honoured", body = String, content_type = "text/html"),
        (status = 403, description = "The form's CSRF token did not match: the page asks to try again", body = String, content_type = "text/html"),
    ))]
pub(super) async fn logout_confirmed(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    PageForm(form): PageForm<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let mut params = form.clone();
    params.remove("csrf");
    params.retain(|_, v| !v.is_empty());
    let session = browser::session(&state, &pool, &headers).await?;
    let logout = match check_logout(&state, &pool, &params, None).await? {
        Ok(l) => l,
        Err(why) => {
            return Ok(invalid_logout(&pool, why));
        }
    };
    finish_logout(&state, &pool, session.as_ref(), &logout).await
}

async fn finish_logout(
    state: &AppState,
    pool: &PoolRecord,
    session: Option<&SessionRecord>,
    logout: &Logout,
) -> Result<Response, AppError> {
    if let Some(s) = session {
        state
            .users
            .end_session_tree(pool, s.id, "signed_out", state.clock.now())
            .await?;
    }
    let clear = browser::end_session(state, pool);
    match &logout.redirect {
        Some(uri) => {
            let mut url = Url::parse(uri)
                .map_err(|_| AppError::Internal("a stored URI does not parse".into()))?;
            if let Some(s) = &logout.state {
                url.query_pairs_mut().append_pair("state", s);
            }
            Ok(see_other(url.as_str(), &[clear]))
        }
        None => {
            let p = &words().page;
            let notice = Some(p.signed_out);
            Ok(pages::message(
                pool,
                p.signed_out_title,
                notice,
                None,
                &[clear],
            ))
        }
    }
}
