//! OAuth 2.0 endpoints under the pool's issuer. Today: the token endpoint's
//! `client_credentials` grant (RFC 6749 §4.4) and token introspection (RFC 7662), both with
//! `client_secret_basic` and `client_secret_post` (§2.3.1); errors as RFC 6749 §5.2 JSON.

use accounts::clients::{ClientRecord, GRANT_CLIENT_CREDENTIALS};
use accounts::store::PoolRecord;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use base64::Engine;
use serde_json::json;
use std::collections::HashMap;

use super::extract::{Pool, live_session};
use crate::state::AppState;
use crate::tokens::{self, AccessClaims};

/// Scopes that only mean something for a signed-in user.
const USER_SCOPES: [&str; 4] = ["openid", "email", "profile", "offline_access"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/oauth2/token", post(token))
        .route("/oauth2/introspect", post(introspect))
}

/// An RFC 6749 §5.2 error.
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// Basic was used: answer with a Basic challenge (§5.2, invalid_client).
    basic_challenge: bool,
}

fn oauth_error(error: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError {
        status: StatusCode::BAD_REQUEST,
        error,
        description: description.into(),
        basic_challenge: false,
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            Json(json!({ "error": self.error, "error_description": self.description })),
        )
            .into_response();
        no_store(res.headers_mut());
        if self.basic_challenge {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"gatehouse\""),
            );
        }
        res
    }
}

fn no_store(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl From<accounts::Error> for OAuthError {
    fn from(e: accounts::Error) -> Self {
        tracing::error!(error = %e, "token endpoint");
        OAuthError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "temporarily_unavailable",
            description: "try again later".into(),
            basic_challenge: false,
        }
    }
}

/// `%XX` and `+` decoding of one application/x-www-form-urlencoded value (RFC 6749 §2.3.1
/// encodes the Basic credentials so).
fn form_decode(s: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("v={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// The client's credentials from exactly one method: Basic, or the body.
fn credentials(
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<(String, String, bool), OAuthError> {
    // The scheme is case-insensitive (RFC 7235 §2.1).
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, creds)| creds);
    let in_body = params.contains_key("client_secret");
    match (basic, in_body) {
        (Some(_), true) => Err(oauth_error(
            "invalid_request",
            "use one client authentication method, not two",
        )),
        (Some(b64), false) => {
            let bad = || OAuthError {
                status: StatusCode::UNAUTHORIZED,
                error: "invalid_client",
                description: "malformed Basic credentials".into(),
                basic_challenge: true,
            };
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| bad())?;
            let text = String::from_utf8(raw).map_err(|_| bad())?;
            let (id, secret) = text.split_once(':').ok_or_else(bad)?;
            Ok((
                form_decode(id).ok_or_else(bad)?,
                form_decode(secret).ok_or_else(bad)?,
                true,
            ))
        }
        (None, true) => Ok((
            params.get("client_id").cloned().unwrap_or_default(),
            params.get("client_secret").cloned().unwrap_or_default(),
            false,
        )),
        (None, false) => Err(OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "client authentication is required".into(),
            basic_challenge: true,
        }),
    }
}

/// The granted scope: what was asked, if the client may have all of it; by default every
/// scope of the client that is not a user scope.
fn granted_scope(client: &ClientRecord, asked: Option<&String>) -> Result<String, OAuthError> {
    let allowed =
        |s: &str| client.config.scopes.iter().any(|c| c == s) && !USER_SCOPES.contains(&s);
    match asked {
        Some(asked) => {
            let mut scopes: Vec<&str> = asked.split(' ').filter(|s| !s.is_empty()).collect();
            scopes.sort_unstable();
            scopes.dedup();
            if let Some(bad) = scopes.iter().find(|s| !allowed(s)) {
                return Err(oauth_error(
                    "invalid_scope",
                    format!("the client may not have the scope {bad:?}"),
                ));
            }
            Ok(scopes.join(" "))
        }
        None => Ok(client
            .config
            .scopes
            .iter()
            .filter(|s| allowed(s))
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")),
    }
}

/// The form's parameters, each at most once (RFC 6749 §3.2).
fn single_params(pairs: Vec<(String, String)>) -> Result<HashMap<String, String>, OAuthError> {
    let mut params = HashMap::new();
    for (k, v) in pairs {
        if params.insert(k.clone(), v).is_some() {
            return Err(oauth_error(
                "invalid_request",
                format!("the parameter {k} is repeated"),
            ));
        }
    }
    Ok(params)
}

/// The confidential client these credentials belong to (RFC 6749 §2.3.1).
async fn authenticate(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<ClientRecord, OAuthError> {
    let (client_id, secret, basic) = credentials(headers, params)?;
    if let Some(body_id) = params.get("client_id")
        && basic
        && *body_id != client_id
    {
        return Err(oauth_error("invalid_request", "client_id does not match"));
    }
    match state
        .users
        .authenticate_client(pool, &client_id, &secret)
        .await
    {
        Ok(c) => Ok(c),
        Err(accounts::Error::ClientNotFound) => Err(OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "unknown client or wrong secret".into(),
            // A 401 always carries a challenge (RFC 7235 §3.1).
            basic_challenge: true,
        }),
        Err(e) => Err(e.into()),
    }
}

fn no_store_json(body: serde_json::Value) -> Response {
    let mut res = Json(body).into_response();
    no_store(res.headers_mut());
    res
}

async fn token(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, OAuthError> {
    let params = single_params(pairs)?;
    let Some(grant) = params.get("grant_type") else {
        return Err(oauth_error("invalid_request", "grant_type is required"));
    };
    if grant != GRANT_CLIENT_CREDENTIALS {
        return Err(oauth_error(
            "unsupported_grant_type",
            "this pool's token endpoint supports client_credentials",
        ));
    }
    let client = authenticate(&state, &pool, &headers, &params).await?;
    if !client.allows_grant(GRANT_CLIENT_CREDENTIALS) {
        return Err(oauth_error(
            "unauthorized_client",
            "this client may not use client_credentials",
        ));
    }
    let asked = params.get("scope").filter(|s| !s.trim().is_empty());
    let scope = granted_scope(&client, asked)?;
    let now = state.clock.now();
    let ttl = client
        .config
        .access_token_ttl
        .unwrap_or(pool.config.access_token_ttl);
    let keys = state.keys.keys(pool.id, now).await?;
    let issuer = state.config.issuer(&pool.name);
    let access = tokens::issue_client_token(&keys, &issuer, &client.id, &scope, ttl, now)?;
    Ok(no_store_json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": scope,
    })))
}

/// RFC 7662 token introspection, for confidential clients (resource servers): an access
/// token of this pool is active while its signature, issuer, audience and lifetime hold and,
/// for a user's token, while its session is live (so a revoked session shows at once).
/// Refresh tokens are opaque to everyone but the gateway: never active here.
async fn introspect(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, OAuthError> {
    let params = single_params(pairs)?;
    authenticate(&state, &pool, &headers, &params).await?;
    let Some(token) = params.get("token") else {
        return Err(oauth_error("invalid_request", "token is required"));
    };
    let inactive = || Ok(no_store_json(json!({ "active": false })));
    let now = state.clock.now();
    let keys = state.keys.keys(pool.id, now).await?;
    let issuer = state.config.issuer(&pool.name);
    let Some(mut claims) = tokens::verify_access_jwt(&keys, &issuer, token, now) else {
        return inactive();
    };
    // A user's token is active only while its session is; a client's own has none.
    if claims.get("sid").is_some() {
        let live = match AccessClaims::of_user(claims.clone()) {
            Some(user) => live_session(&state, pool.id, &user, now).await?.is_some(),
            None => false,
        };
        if !live {
            return inactive();
        }
    }
    if let Some(obj) = claims.as_object_mut() {
        obj.insert("active".into(), json!(true));
        obj.insert("token_type".into(), json!("Bearer"));
    }
    Ok(no_store_json(claims))
}
