//! `POST /oauth2/token`: the `authorization_code` grant (single-use code bound to client,
//! redirect URI and PKCE; a replay revokes what the first redemption issued), the
//! `refresh_token` grant (bound to its client; scope may only narrow), and
//! `client_credentials` (RFC 6749 §4.1.3, §6, §4.4; RFC 7636 §4.6).

use accounts::clients::{ClientRecord, GrantType};
use accounts::store::PoolRecord;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::collections::HashMap;

use super::{OAuthError, granted_scope, identify, no_store_json, oauth_error, single_params};
use crate::flows::{authorize, hooks, sign_in};
use crate::hooks::triggers::TokenCustom;
use crate::http::extract::Pool;
use crate::http::openapi::OAuthProblem;
use crate::keys::Alg;
use crate::metrics::{SignInMethod, SignInResult};
use crate::state::AppState;
use crate::tokens::{self, IssueOptions, TokenSet};

/// The form of a token request, as the handler reads it: by name, after refusing a
/// repeated parameter (RFC 6749 §3.2), so this type only describes it. Which fields a grant
/// needs is the grant's (RFC 6749 §4.1.3, §6, §4.4; RFC 7636 §4.5).
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "it describes a form that is read by name")]
struct TokenRequest {
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    grant_type: String,
    /// `authorization_code`: the code.
    code: Option<String>,
    /// `authorization_code`: the redirect URI of the authorization request.
    redirect_uri: Option<String>,
    /// `authorization_code`: the PKCE verifier (RFC 7636).
    code_verifier: Option<String>,
    /// `refresh_token`: the refresh token.
    refresh_token: Option<String>,
    /// `refresh_token`: a narrower scope; `client_credentials`: the scope asked for.
    scope: Option<String>,
    /// A public client names itself; a confidential one with `client_secret_post`.
    client_id: Option<String>,
    /// `client_secret_post` (or HTTP Basic instead: `client_secret_basic`).
    client_secret: Option<String>,
}

/// The token endpoint (RFC 6749 §3.2): a token set for an authorization code, a refresh
/// token or the client's own credentials.
#[utoipa::path(post, path = "/oauth2/token", security((), ("client" = [])),
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A token set (RFC 6749 §5.1)", body = TokenSet),
        (status = 400, response = OAuthProblem),
        (status = 401, response = OAuthProblem),
    ))]
pub(super) async fn token(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, OAuthError> {
    let params = single_params(pairs)?;
    let Some(grant) = params.get("grant_type") else {
        return Err(oauth_error("invalid_request", "grant_type is required"));
    };
    let Ok(grant) = grant.parse::<GrantType>() else {
        return Err(oauth_error(
            "unsupported_grant_type",
            "supported: authorization_code, refresh_token, client_credentials",
        ));
    };
    let outcome = grant_tokens(&state, &pool, &headers, &params, grant).await;
    // Every grant is a sign-in, whatever refused it (the client's authentication too).
    let method = match grant {
        GrantType::AuthorizationCode => SignInMethod::OauthCode,
        GrantType::RefreshToken => SignInMethod::Refresh,
        GrantType::ClientCredentials => SignInMethod::ClientCredentials,
    };
    let result = match &outcome {
        Ok(_) => SignInResult::Success,
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => SignInResult::RateLimited,
        Err(e) if e.status.is_server_error() => SignInResult::Error,
        Err(_) => SignInResult::Failure,
    };
    state.metrics.sign_in(&pool.name, method, result);
    outcome
}

/// Authenticates the client and runs `grant` for it.
async fn grant_tokens(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    grant: GrantType,
) -> Result<Response, OAuthError> {
    let client = identify(state, pool, headers, params).await?;
    if !client.allows_grant(grant) {
        return Err(oauth_error(
            "unauthorized_client",
            format!("this client may not use {grant}"),
        ));
    }
    match grant {
        GrantType::AuthorizationCode => authorization_code(state, pool, &client, params).await,
        GrantType::RefreshToken => refresh_token(state, pool, &client, params).await,
        GrantType::ClientCredentials => client_credentials(state, pool, &client, params).await,
    }
}

fn invalid_grant(why: &str) -> OAuthError {
    oauth_error("invalid_grant", why)
}

/// The token set for a client session, cut to the client's settings.
async fn client_token_set(
    state: &AppState,
    pool: &PoolRecord,
    client: &ClientRecord,
    issued: &accounts::Issued,
    nonce: Option<&str>,
    custom: Option<&TokenCustom>,
) -> Result<Response, OAuthError> {
    let now = state.clock.now();
    let keys = state.keys.keys(pool.id, now).await?;
    let issuer = state.config.issuer(&pool.name);
    let scope = issued.session.scope.clone().unwrap_or_default();
    let c = &client.config;
    let opt = IssueOptions {
        scope: &scope,
        nonce,
        id_alg: Alg::parse(&c.id_token_signed_response_alg).unwrap_or(Alg::Es256),
        access_ttl: c.access_token_ttl.unwrap_or(pool.config.access_token_ttl),
        id_ttl: c.id_token_ttl.unwrap_or(pool.config.id_token_ttl),
        refresh: client.allows_grant(GrantType::RefreshToken),
        echo_scope: true,
    };
    let set = tokens::issue_with(&keys, &issuer, issued, &opt, custom, now)?;
    Ok(no_store_json(set))
}

/// Redeems an authorization code (see [`authorize::redeem`]).
async fn authorization_code(
    state: &AppState,
    pool: &PoolRecord,
    client: &ClientRecord,
    params: &HashMap<String, String>,
) -> Result<Response, OAuthError> {
    let presented = authorize::Presented {
        code: params.get("code").map(String::as_str).unwrap_or_default(),
        redirect_uri: params.get("redirect_uri").map(String::as_str),
        code_verifier: params.get("code_verifier").map(String::as_str),
    };
    let (issued, nonce) = match authorize::redeem(state, pool, client, &presented).await {
        Ok(r) => r,
        Err(authorize::RedeemError::Refused(why)) => return Err(invalid_grant(why)),
        Err(authorize::RedeemError::Store(e)) => return Err(e.into()),
    };
    let scope = issued.session.scope.clone().unwrap_or_default();
    let custom = hooks::pre_token(
        state,
        pool,
        &issued.account,
        &issued.session,
        &scope,
        hooks::TokenReason::Code,
        None,
    )
    .await;
    // A refusal ends the client session made for the code (which is spent: the app starts
    // the authorization again).
    let custom = hooks::or_end_session(state, pool, &issued, custom).await?;
    client_token_set(
        state,
        pool,
        client,
        &issued,
        nonce.as_deref(),
        custom.as_ref(),
    )
    .await
}

/// Rotates a client's refresh token. A narrower `scope` may be asked for, never a wider one
/// (RFC 6749 §6); another client's token is unknown here and left untouched.
async fn refresh_token(
    state: &AppState,
    pool: &PoolRecord,
    client: &ClientRecord,
    params: &HashMap<String, String>,
) -> Result<Response, OAuthError> {
    let token = params
        .get("refresh_token")
        .map(String::as_str)
        .unwrap_or_default();
    let now = state.clock.now();
    // The scope is checked before rotating, so a refused request leaves the token usable.
    let asked: Option<Vec<&str>> = params
        .get("scope")
        .map(|s| s.split(' ').filter(|x| !x.is_empty()).collect());
    let narrowed = match asked {
        None => None,
        Some(asked) => {
            let Some(granted) = state
                .users
                .refresh_token_scope(pool, token, &client.id)
                .await?
            else {
                return Err(invalid_grant("unknown, used or revoked refresh token"));
            };
            let granted: Vec<&str> = granted.split(' ').collect();
            if let Some(bad) = asked.iter().find(|s| !granted.contains(s)) {
                return Err(oauth_error(
                    "invalid_scope",
                    format!("the scope {bad:?} was not granted"),
                ));
            }
            Some(asked.join(" "))
        }
    };
    // Asked before the rotation commits: a hook that fails leaves the token usable.
    let custom = sign_in::refresh_custom(state, pool, token, Some(&client.id), None).await?;
    let mut issued = match state
        .users
        .refresh(pool, token, Some(&client.id), now)
        .await
    {
        Ok(i) => i,
        Err(accounts::Error::InvalidRefreshToken) => {
            return Err(invalid_grant("unknown, used or revoked refresh token"));
        }
        Err(e) => return Err(e.into()),
    };
    if narrowed.is_some() {
        issued.session.scope = narrowed;
    }
    client_token_set(state, pool, client, &issued, None, custom.as_ref()).await
}

/// A client acting on its own behalf: an access token with `sub` = `client_id`.
async fn client_credentials(
    state: &AppState,
    pool: &PoolRecord,
    client: &ClientRecord,
    params: &HashMap<String, String>,
) -> Result<Response, OAuthError> {
    if client.public {
        return Err(oauth_error(
            "unauthorized_client",
            "a public client may not use client_credentials",
        ));
    }
    let asked = params.get("scope").filter(|s| !s.trim().is_empty());
    let scope = granted_scope(client, asked)?;
    let now = state.clock.now();
    let ttl = client
        .config
        .access_token_ttl
        .unwrap_or(pool.config.access_token_ttl);
    let keys = state.keys.keys(pool.id, now).await?;
    let issuer = state.config.issuer(&pool.name);
    let access = tokens::issue_client_token(&keys, &issuer, &client.id, &scope, ttl, now)?;
    Ok(no_store_json(TokenSet {
        access_token: access,
        id_token: None,
        refresh_token: None,
        token_type: "Bearer",
        expires_in: ttl,
        scope: Some(scope),
    }))
}
