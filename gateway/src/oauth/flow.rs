//! An authorization between its steps, in the ephemeral store (so every gateway instance
//! sees it): the pending request while the person signs in (10 minutes, read on each try),
//! then the authorization code (60 seconds, single use, RFC 6749 §4.1.2), then, once
//! redeemed, a marker that turns a second redemption into the revocation of what the
//! first one issued (RFC 6749 §4.1.2, RFC 9700 §4.5).

use accounts::SessionId;
use accounts::store::PoolRecord;
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::request::AuthRequest;
use crate::http::error::AppError;
use crate::state::AppState;

const REQUEST_TTL: Duration = Duration::from_secs(600);
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// How long a redeemed code is remembered, to catch replays.
const REDEEMED_TTL: Duration = Duration::from_secs(3600);

/// What an authorization code stands for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    /// The browser session the person signed in with.
    pub browser_session: SessionId,
    /// The id the client session will have (chosen now, so a replay can revoke it).
    pub session: SessionId,
}

/// What presenting a code found.
pub enum Redeemed {
    Fresh(CodeGrant),
    /// Already redeemed: the session it opened.
    Replayed(SessionId),
    Unknown,
}

fn request_key(pool: &PoolRecord, id: &str) -> String {
    format!("oauth-request:{}:{id}", pool.id)
}

fn code_keys(state: &AppState, pool: &PoolRecord, code: &str) -> (String, String) {
    let h = state.users.mac("oauth-code", code);
    (
        format!("oauth-code:{}:{h}", pool.id),
        format!("oauth-code-redeemed:{}:{h}", pool.id),
    )
}

/// Keeps a checked request while the person signs in; its id goes into the login page.
pub async fn save_request(
    state: &AppState,
    pool: &PoolRecord,
    req: &AuthRequest,
) -> Result<String, AppError> {
    let value = serde_json::to_string(req).map_err(|_| AppError::Unavailable("json".into()))?;
    loop {
        let id = accounts::secret::random_token().expose().to_string();
        if state
            .ephemeral
            .put_new(&request_key(pool, &id), &value, REQUEST_TTL)
            .await?
        {
            return Ok(id);
        }
    }
}

/// The pending request `id`, if it is still there.
pub async fn load_request(
    state: &AppState,
    pool: &PoolRecord,
    id: &str,
) -> Result<Option<AuthRequest>, AppError> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    let value = state.ephemeral.get(&request_key(pool, id)).await?;
    Ok(value.and_then(|v| serde_json::from_str(&v).ok()))
}

/// Ends a pending request (it led to a code or an error).
pub async fn drop_request(state: &AppState, pool: &PoolRecord, id: &str) -> Result<(), AppError> {
    Ok(state.ephemeral.delete(&request_key(pool, id)).await?)
}

/// A fresh code for `grant`.
pub async fn issue_code(
    state: &AppState,
    pool: &PoolRecord,
    grant: &CodeGrant,
) -> Result<String, AppError> {
    let value = serde_json::to_string(grant).map_err(|_| AppError::Unavailable("json".into()))?;
    loop {
        let code = accounts::secret::random_token().expose().to_string();
        let (key, _) = code_keys(state, pool, &code);
        if state.ephemeral.put_new(&key, &value, CODE_TTL).await? {
            return Ok(code);
        }
    }
}

/// Takes a code: the first presentation gets its grant (atomically, once in all
/// instances); later ones learn which session the first one opened.
pub async fn redeem_code(
    state: &AppState,
    pool: &PoolRecord,
    code: &str,
) -> Result<Redeemed, AppError> {
    if code.is_empty() || code.len() > 128 {
        return Ok(Redeemed::Unknown);
    }
    let (key, redeemed_key) = code_keys(state, pool, code);
    if let Some(value) = state.ephemeral.take(&key).await? {
        let grant: CodeGrant =
            serde_json::from_str(&value).map_err(|_| AppError::Unavailable("json".into()))?;
        state
            .ephemeral
            .put_new(&redeemed_key, &grant.session.to_string(), REDEEMED_TTL)
            .await?;
        return Ok(Redeemed::Fresh(grant));
    }
    Ok(match state.ephemeral.get(&redeemed_key).await? {
        Some(sid) => SessionId::parse(&sid).map_or(Redeemed::Unknown, Redeemed::Replayed),
        None => Redeemed::Unknown,
    })
}
