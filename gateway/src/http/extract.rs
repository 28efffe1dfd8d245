//! Extractors: JSON bodies whose rejections are problem details, the pool named in the path,
//! the authenticated account behind a bearer access token, and the client's address.

use accounts::PoolId;
use accounts::store::{PoolRecord, SessionRecord};
use axum::Json;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use super::error::{AppError, Code};
use crate::state::AppState;
use crate::tokens::{self, AccessClaims};

/// `Json<T>` whose failures answer problem details (400, 413, 415), never axum's plain text.
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let Json(v) = Json::<T>::from_request(req, state).await?;
        Ok(AppJson(v))
    }
}

/// The pool named by `{pool}` in the path.
pub struct Pool(pub Arc<PoolRecord>);

impl FromRequestParts<AppState> for Pool {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Path(params) =
            Path::<HashMap<String, String>>::from_request_parts(parts, state).await?;
        let not_found = || AppError::refused(Code::PoolNotFound, "no such pool");
        // Pool names are short slugs; anything else is not looked up at all.
        let name = params
            .get("pool")
            .filter(|n| is_pool_name(n))
            .ok_or_else(not_found)?;
        let pool = state.pools.get(name, state.clock.now()).await?;
        pool.map(Pool).ok_or_else(not_found)
    }
}

pub use accounts::is_pool_name;

/// A request authenticated with an access token of the pool in the path, whose session is
/// still live (so revoking sessions takes effect at once on the gateway's own API).
pub struct Authenticated {
    pub pool: Arc<PoolRecord>,
    pub claims: AccessClaims,
    pub session: SessionRecord,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Pool(pool) = Pool::from_request_parts(parts, state).await?;
        // The account API is the account's own: a token issued to an OAuth client (whose
        // session names that client) reaches userinfo, never `/v1/me` and what hangs off it.
        let (claims, session) = bearer_user(state, &pool, &parts.headers)
            .await?
            .filter(|(_, s)| s.client_id.is_none())
            .ok_or(AppError::Unauthorized)?;
        Ok(Authenticated {
            pool,
            claims,
            session,
        })
    }
}

impl Authenticated {
    /// A sensitive change needs a recent authentication (see
    /// [`crate::flows::account::require_recent`]).
    pub async fn require_recent(
        &self,
        state: &AppState,
        current_password: Option<&str>,
    ) -> Result<(), AppError> {
        crate::flows::account::require_recent(
            state,
            &self.pool,
            self.claims.sub,
            &self.session,
            current_password,
        )
        .await?;
        Ok(())
    }
}

/// The credential of an `Authorization: Bearer …` header (RFC 6750 §2.1: the scheme is
/// case-insensitive).
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
}

/// The user behind the request's bearer access token (RFC 6750 §2.1; the scheme is
/// case-insensitive): a valid token of this pool whose session is live. None otherwise.
pub async fn bearer_user(
    state: &AppState,
    pool: &PoolRecord,
    headers: &axum::http::HeaderMap,
) -> Result<Option<(AccessClaims, SessionRecord)>, accounts::Error> {
    let Some(token) = bearer_token(headers) else {
        return Ok(None);
    };
    let now = state.clock.now();
    let keys = state.keys.keys(pool.id, now).await?;
    let issuer = state.config.issuer(&pool.name);
    let Some(claims) = tokens::verify_access(&keys, &issuer, token, now) else {
        return Ok(None);
    };
    Ok(live_session(state, pool.id, &claims, now)
        .await?
        .map(|session| (claims, session)))
}

/// The session of a user's access token, while it is live and belongs to that account in
/// that pool.
pub async fn live_session(
    state: &AppState,
    pool: PoolId,
    claims: &AccessClaims,
    now: i64,
) -> Result<Option<SessionRecord>, accounts::Error> {
    Ok(state
        .users
        .live_session(claims.sid, now)
        .await?
        .filter(|s| s.account_id == claims.sub && s.pool_id == pool))
}

pub use crate::flows::sign_in::Caller;

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|ua| !ua.is_empty())
            .map(str::to_string);
        let device = crate::http::browser::device(state, &parts.headers);
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|id| !id.is_empty() && id.len() <= 128)
            .map(str::to_string);
        let client_id = parts
            .uri
            .path()
            .contains("/v1/")
            .then(|| crate::tokens::DIRECT_CLIENT.to_string());
        Ok(Caller {
            ip,
            user_agent,
            device,
            request_id,
            client_id,
        })
    }
}

/// The client's address: the socket peer, or, when the operator says a trusted proxy sits in
/// front, the address that proxy saw: the last `X-Forwarded-For` entry (the ones before it
/// are whatever the client sent).
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if state.config.trust_proxy {
            let forwarded = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty());
            if let Some(ip) = forwarded {
                return Ok(ClientIp(ip));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(ClientIp(peer.unwrap_or_else(|| "unknown".into())))
    }
}
