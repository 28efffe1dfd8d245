//! An authorization between its steps, in the ephemeral store (so every gateway instance
//! sees it): the pending request while the person signs in (10 minutes, read on each try,
//! taken once by the sign-in that ends it), then the authorization code (60 seconds, single
//! use, RFC 6749 §4.1.2), then, once redeemed, a claim that turns a second redemption into
//! the revocation of what the first one issued (RFC 6749 §4.1.2, RFC 9700 §4.5).

use accounts::SessionId;
use accounts::store::PoolRecord;
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::request::AuthRequest;
use crate::state::AppState;

/// A value that must round-trip through JSON did not: a bug, never the client's doing.
fn json_bug(_: serde_json::Error) -> accounts::Error {
    accounts::Error::Store("an authorization state did not (de)serialise".into())
}

const REQUEST_TTL: Duration = Duration::from_secs(600);
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// How long a redeemed code is remembered, to catch replays.
const REDEEMED_TTL: Duration = Duration::from_secs(3600);

/// What an authorization code stands for.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub redirect_uri_given: bool,
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

/// The keys of a code: its grant, the claim of its first redemption, the mark of a replay.
fn code_keys(state: &AppState, pool: &PoolRecord, code: &str) -> [String; 3] {
    let h = state.users.mac("oauth-code", code);
    ["oauth-code", "oauth-code-claimed", "oauth-code-replayed"]
        .map(|kind| format!("{kind}:{}:{h}", pool.id))
}

/// Keeps a checked request while the person signs in; its id goes into the login page.
pub async fn save_request(
    state: &AppState,
    pool: &PoolRecord,
    req: &AuthRequest,
) -> Result<String, accounts::Error> {
    let value = serde_json::to_string(req).map_err(json_bug)?;
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
) -> Result<Option<AuthRequest>, accounts::Error> {
    read_request(state, pool, id, false).await
}

/// Takes the pending request `id` for the sign-in that ends it: of two concurrent
/// sign-ins on one request, one gets it.
pub async fn take_request(
    state: &AppState,
    pool: &PoolRecord,
    id: &str,
) -> Result<Option<AuthRequest>, accounts::Error> {
    read_request(state, pool, id, true).await
}

async fn read_request(
    state: &AppState,
    pool: &PoolRecord,
    id: &str,
    take: bool,
) -> Result<Option<AuthRequest>, accounts::Error> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    let key = request_key(pool, id);
    let value = if take {
        state.ephemeral.take(&key).await?
    } else {
        state.ephemeral.get(&key).await?
    };
    Ok(value.and_then(|v| serde_json::from_str(&v).ok()))
}

/// A fresh code for `grant`.
pub async fn issue_code(
    state: &AppState,
    pool: &PoolRecord,
    grant: &CodeGrant,
) -> Result<String, accounts::Error> {
    let value = serde_json::to_string(grant).map_err(json_bug)?;
    loop {
        let code = accounts::secret::random_token().expose().to_string();
        let [key, _, _] = code_keys(state, pool, &code);
        if state.ephemeral.put_new(&key, &value, CODE_TTL).await? {
            return Ok(code);
        }
    }
}

/// Presents a code. Exactly one presentation, in all instances, claims it (an atomic
/// put-if-absent of the claim, which names the session the redemption will open); every
/// other one marks the code replayed and learns that session, to revoke it.
pub async fn redeem_code(
    state: &AppState,
    pool: &PoolRecord,
    code: &str,
) -> Result<Redeemed, accounts::Error> {
    if code.is_empty() || code.len() > 128 {
        return Ok(Redeemed::Unknown);
    }
    let [key, claimed, replayed] = code_keys(state, pool, code);
    if let Some(value) = state.ephemeral.get(&key).await? {
        let grant: CodeGrant = serde_json::from_str(&value).map_err(json_bug)?;
        let session = grant.session.to_string();
        if state
            .ephemeral
            .put_new(&claimed, &session, REDEEMED_TTL)
            .await?
        {
            state.ephemeral.delete(&key).await?;
            return Ok(Redeemed::Fresh(grant));
        }
    }
    let Some(sid) = state.ephemeral.get(&claimed).await? else {
        return Ok(Redeemed::Unknown);
    };
    state
        .ephemeral
        .put_new(&replayed, "1", REDEEMED_TTL)
        .await?;
    Ok(SessionId::parse(&sid).map_or(Redeemed::Unknown, Redeemed::Replayed))
}

/// Whether the code was presented again while its first redemption ran. The replay marks
/// the code before it revokes; the redemption opens its session before it asks: so either
/// the replay's revocation finds the session, or the redemption sees the mark.
pub async fn was_replayed(
    state: &AppState,
    pool: &PoolRecord,
    code: &str,
) -> Result<bool, accounts::Error> {
    let [_, _, replayed] = code_keys(state, pool, code);
    Ok(state.ephemeral.get(&replayed).await?.is_some())
}
