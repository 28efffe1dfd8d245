//! OAuth 2.0 / OpenID Connect endpoints under the pool's issuer: authorization with the
//! code flow and PKCE (`authorize`), the token endpoint's grants (`token`), userinfo,
//! revocation, introspection, RP-initiated logout. Confidential clients authenticate with
//! `client_secret_basic` or `client_secret_post` (RFC 6749 §2.3.1); public ones name
//! themselves and prove PKCE. Errors are RFC 6749 §5.2 JSON.

mod authorize;
mod token;
mod userinfo;

use accounts::clients::{ClientRecord, Scope};
use accounts::store::PoolRecord;
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;
use std::collections::HashMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// Scopes that only mean something for a signed-in user.
const USER_SCOPES: [&str; 4] = ["openid", "email", "profile", "offline_access"];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(authorize::authorize))
        .routes(routes!(token::token))
        .routes(routes!(userinfo::userinfo))
        .routes(routes!(userinfo::revoke))
        .routes(routes!(userinfo::introspect))
        .routes(routes!(authorize::logout, authorize::logout_confirmed))
}

/// An RFC 6749 §5.2 error.
pub(crate) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// Basic was used: answer with a Basic challenge (§5.2, invalid_client).
    basic_challenge: bool,
}

impl From<crate::http::error::AppError> for OAuthError {
    fn from(e: crate::http::error::AppError) -> Self {
        use crate::http::error::AppError as A;
        match e {
            A::Domain(e) => e.into(),
            A::RateLimited { .. } => OAuthError {
                status: StatusCode::TOO_MANY_REQUESTS,
                error: "temporarily_unavailable",
                description: "too many requests; try again later".into(),
                basic_challenge: false,
            },
            A::Unavailable(why) => {
                tracing::error!(error = %why, "oauth endpoint: a backing service is down");
                unavailable()
            }
            A::Unauthorized => OAuthError {
                status: StatusCode::UNAUTHORIZED,
                error: "invalid_client",
                description: "client authentication failed".into(),
                basic_challenge: true,
            },
            other if other.is_server_error() => {
                tracing::error!(error = ?other, "oauth endpoint");
                server_error()
            }
            other => oauth_error("invalid_request", other.code().as_str()),
        }
    }
}

fn unavailable() -> OAuthError {
    OAuthError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        error: "temporarily_unavailable",
        description: "try again later".into(),
        basic_challenge: false,
    }
}

fn server_error() -> OAuthError {
    OAuthError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        error: "server_error",
        description: "something went wrong on our side".into(),
        basic_challenge: false,
    }
}

fn oauth_error(error: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError {
        status: StatusCode::BAD_REQUEST,
        error,
        description: description.into(),
        basic_challenge: false,
    }
}

/// The body of an RFC 6749 §5.2 error (and of RFC 6750 §3's).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct OAuthErrorBody<'a> {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type` or `invalid_scope` (RFC 6749 §5.2); `invalid_token` or
    /// `insufficient_scope` (RFC 6750 §3.1); `temporarily_unavailable` or `server_error`.
    pub error: &'a str,
    /// What went wrong, for developers.
    pub error_description: &'a str,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            Json(OAuthErrorBody {
                error: self.error,
                error_description: &self.description,
            }),
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

/// Every domain error as its RFC 6749 §5.2 error, exhaustively (a new variant forces a
/// decision): a grant that does not hold is `invalid_grant`, input the request should not
/// have carried `invalid_request`, a backing service that is down `temporarily_unavailable`
/// (503), a bug `server_error` (500, logged).
impl From<accounts::Error> for OAuthError {
    fn from(e: accounts::Error) -> Self {
        use accounts::Error as E;
        match e {
            E::InvalidRefreshToken
            | E::InvalidCredentials
            | E::CodeInvalid
            | E::AccountDisabled
            | E::AccountNotFound => oauth_error("invalid_grant", e.to_string()),
            // A 401 always carries a challenge (RFC 7235 §3.1).
            E::ClientNotFound => OAuthError {
                status: StatusCode::UNAUTHORIZED,
                error: "invalid_client",
                description: e.to_string(),
                basic_challenge: true,
            },
            E::InvalidEmail
            | E::PasswordTooShort { .. }
            | E::PasswordTooLong { .. }
            | E::PasswordTooCommon
            | E::PasswordMatchesEmail
            | E::CurrentPasswordRequired
            | E::ReauthenticationRequired
            | E::EmailTaken
            | E::InvalidAttributes(_)
            | E::WalletAlreadyLinked
            | E::WalletNotFound
            | E::LastCredential
            | E::PoolNotFound
            | E::Deleted
            | E::InvalidPoolConfig(_)
            | E::PoolExists
            | E::PoolNotEmpty
            | E::PoolProtected
            | E::VersionMismatch
            | E::GroupExists
            | E::GroupNotFound
            | E::InvalidGroup(_)
            | E::InvalidClient(_)
            | E::PasswordCompromised
            | E::PasswordResetRequired
            | E::PasskeyNotFound
            | E::PasskeyInvalid
            | E::MfaCodeInvalid
            | E::MfaSessionInvalid
            | E::MfaAlreadyEnrolled
            | E::MfaNotEnrolled
            | E::FactorNotAllowed
            | E::LastFactor
            | E::EmailUnverified
            | E::InvalidIdpConfig(_)
            | E::IdpNotFound
            | E::IdpExists
            | E::IdpInUse
            | E::IdentityTaken
            | E::IdentityNotFound
            | E::InvalidHookConfig(_)
            | E::HookExists
            | E::HookNotFound
            | E::SignUpDenied(_)
            | E::AccountExists => oauth_error("invalid_request", e.to_string()),
            E::SignInDenied(_) => oauth_error("invalid_grant", E::InvalidCredentials.to_string()),
            // A hook that fails closed: the operator's service is down, as a database would be.
            E::HookFailed => {
                tracing::warn!("oauth endpoint: a hook failed closed");
                unavailable()
            }
            E::Unavailable(why) => {
                tracing::error!(error = %why, "oauth endpoint: a backing service is down");
                unavailable()
            }
            E::Overloaded(what) => {
                tracing::warn!(what, "oauth endpoint: at capacity");
                unavailable()
            }
            E::Store(_) | E::Ephemeral(_) | E::Crypto => {
                tracing::error!(error = %e, "oauth endpoint");
                server_error()
            }
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
    let allowed = |s: &str| client.allows_scope(s) && !USER_SCOPES.contains(&s);
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
            .map(Scope::as_str)
            .filter(|s| allowed(s))
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

/// The client of a token-endpoint request: a confidential one by its credentials, a public
/// one by `client_id` alone (it proves itself with PKCE, RFC 7636; RFC 6749 §2.1).
async fn identify(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<ClientRecord, OAuthError> {
    let has_basic = headers.contains_key(header::AUTHORIZATION);
    if has_basic || params.contains_key("client_secret") {
        return authenticate(state, pool, headers, params).await;
    }
    let unknown = || OAuthError {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        description: "client authentication is required".into(),
        basic_challenge: true,
    };
    let id = params.get("client_id").ok_or_else(unknown)?;
    match state.users.find_client(pool, id).await {
        Ok(c) if c.public => Ok(c),
        Ok(_) | Err(accounts::Error::ClientNotFound) => Err(unknown()),
        Err(e) => Err(e.into()),
    }
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

fn no_store_json(body: impl Serialize) -> Response {
    let mut res = Json(body).into_response();
    no_store(res.headers_mut());
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Domain errors keep their meaning in RFC 6749 terms: not all "temporarily_unavailable".
    #[test]
    fn domain_errors_map_to_their_rfc6749_codes() {
        let cases = [
            (accounts::Error::InvalidRefreshToken, 400, "invalid_grant"),
            (accounts::Error::AccountDisabled, 400, "invalid_grant"),
            (accounts::Error::ClientNotFound, 401, "invalid_client"),
            (accounts::Error::InvalidEmail, 400, "invalid_request"),
            (
                accounts::Error::Unavailable("redis".into()),
                503,
                "temporarily_unavailable",
            ),
            (accounts::Error::Store("bug".into()), 500, "server_error"),
        ];
        for (e, status, code) in cases {
            let o = OAuthError::from(e);
            assert_eq!((o.status.as_u16(), o.error), (status, code));
        }
        let limited =
            OAuthError::from(crate::http::error::AppError::RateLimited { retry_after: 60 });
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    }
}
