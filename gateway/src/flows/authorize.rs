//! The authorization-code flow without HTTP: finishing an authorization request for a
//! signed-in person (a fresh code bound to the request and the browser session, RFC 6749
//! §4.1.2), and redeeming a code (once, by its client, with its redirect URI and PKCE
//! verifier; a replay, or a sign-out racing the redemption, ends what it opened: RFC 6749
//! §4.1.2, RFC 9700 §4.5).

use accounts::clients::ClientRecord;
use accounts::store::{PoolRecord, SessionRecord};
use accounts::{ClientGrant, Issued, SessionId};

use crate::oauth::flow::{self, CodeGrant, Redeemed};
use crate::oauth::pkce;
use crate::oauth::request::{self, AuthRequest};
use crate::state::AppState;

/// Why a code was not redeemed.
#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    /// The code, its binding or the sign-in behind it does not hold (RFC 6749
    /// `invalid_grant`), in words for the client's developers.
    #[error("{0}")]
    Refused(&'static str),
    #[error(transparent)]
    Store(#[from] accounts::Error),
}

/// What the client presented with a code (RFC 6749 §4.1.3, RFC 7636 §4.5).
pub struct Presented<'a> {
    pub code: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
}

/// Issues the code for `req` and answers the client's redirect URI carrying it, with
/// `state` and `iss` (RFC 9207).
pub async fn finish(
    state: &AppState,
    pool: &PoolRecord,
    req: &AuthRequest,
    session: &SessionRecord,
) -> Result<String, accounts::Error> {
    let grant = CodeGrant {
        client_id: req.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        redirect_uri_given: req.redirect_uri_given,
        scope: req.scope.join(" "),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        browser_session: session.id,
        session: SessionId::new(),
    };
    let code = flow::issue_code(state, pool, &grant).await?;
    Ok(request::response_location(
        &req.redirect_uri,
        &[("code", &code)],
        req.state.as_deref(),
        &state.config.issuer(&pool.name),
    ))
}

/// Redeems a code for `client`: its client session and the nonce to echo in the ID token.
pub async fn redeem(
    state: &AppState,
    pool: &PoolRecord,
    client: &ClientRecord,
    presented: &Presented<'_>,
) -> Result<(Issued, Option<String>), RedeemError> {
    use RedeemError::Refused;
    let now = state.clock.now();
    let grant = match flow::redeem_code(state, pool, presented.code).await? {
        Redeemed::Fresh(g) => g,
        Redeemed::Replayed(session) => {
            // RFC 6749 §4.1.2: a code used twice revokes what it was used for.
            tracing::warn!(client = %client.id, "authorization code replayed; its session is revoked");
            state
                .users
                .end_session_tree(pool, session, "code_replayed", now)
                .await?;
            return Err(Refused("the authorization code was already used"));
        }
        Redeemed::Unknown => return Err(Refused("unknown or expired authorization code")),
    };
    if grant.client_id != client.id {
        return Err(Refused("the code was issued to another client"));
    }
    // RFC 6749 §4.1.3: required, and identical, when the authorization request had it.
    let given = presented.redirect_uri;
    if (grant.redirect_uri_given || given.is_some()) && given != Some(grant.redirect_uri.as_str()) {
        return Err(Refused(
            "redirect_uri must be the one of the authorization request",
        ));
    }
    match (&grant.code_challenge, presented.code_verifier) {
        (Some(challenge), Some(verifier)) if pkce::verifies(verifier, challenge) => {}
        (Some(_), _) => return Err(Refused("the code_verifier does not match")),
        // RFC 9700 §2.1.1: a verifier without a challenge is a downgrade attempt.
        (None, Some(_)) => {
            return Err(Refused(
                "code_verifier given but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    let Some(parent) = state.users.live_session(grant.browser_session, now).await? else {
        return Err(Refused("the sign-in this code came from has ended"));
    };
    let client_grant = ClientGrant {
        client_id: client.id.clone(),
        scope: grant.scope.clone(),
        session: grant.session,
        refresh_ttl: client.config.refresh_token_ttl,
    };
    let issued = match state
        .users
        .open_client_session(pool, &parent, &client_grant, now)
        .await
    {
        Ok(i) => i,
        Err(accounts::Error::InvalidRefreshToken) => {
            return Err(Refused("the account can no longer sign in"));
        }
        Err(e) => return Err(e.into()),
    };
    // Both checks come after the session exists, so a replay or a logout racing this
    // redemption either sees the new session (and ends it) or is seen here.
    if flow::was_replayed(state, pool, presented.code).await? {
        state
            .users
            .end_session_tree(pool, grant.session, "code_replayed", now)
            .await?;
        return Err(Refused("the authorization code was used twice"));
    }
    if state
        .users
        .live_session(grant.browser_session, now)
        .await?
        .is_none()
    {
        state
            .users
            .end_session_tree(pool, grant.session, "signed_out", now)
            .await?;
        return Err(Refused("the sign-in this code came from has ended"));
    }
    Ok((issued, grant.nonce))
}
