//! Signing in: with a password or a wallet, each under its rate limits, and the token set a
//! sign-in ends with.

use accounts::store::PoolRecord;
use accounts::{Issued, NewSessionRequest};

use super::Error;
use super::mfa::{self, Outcome};
use crate::metrics::SignInMethod;
use crate::ratelimit::{self, ATTEMPTS_PER_IP};
use crate::siwe;
use crate::state::AppState;
use crate::tokens::{self, TokenSet};

/// Who is asking: the client's address (for the limits) and its `User-Agent` (kept with the
/// session it opens, so the account can tell its sessions apart).
#[derive(Clone, Debug)]
pub struct Caller {
    pub ip: String,
    pub user_agent: Option<String>,
    /// The hosted pages' device cookie (none from the API).
    pub device: Option<String>,
}

impl Caller {
    pub fn session_request(&self) -> NewSessionRequest {
        NewSessionRequest::from_agent(self.user_agent.as_deref())
    }

    /// The network the address belongs to, as a sign-in notice names it: its /24 (IPv4)
    /// or /48 (IPv6), in one canonical spelling; an address that does not parse, as it is.
    pub fn network(&self) -> String {
        use std::net::IpAddr;
        match self.ip.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(IpAddr::V4(v4)) => {
                let [a, b, c, _] = v4.octets();
                format!("{a}.{b}.{c}.0/24")
            }
            Ok(IpAddr::V6(v6)) => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
                format!("{net}/48")
            }
            Err(_) => self.ip.clone(),
        }
    }
}

/// After a sign-in completed: a pool that asks for it notes where it came from and tells
/// the owner of a new network or browser. Best effort once the session exists: a failure
/// is logged, never the sign-in's answer.
pub async fn note_origin(state: &AppState, pool: &PoolRecord, caller: &Caller, issued: &Issued) {
    if !pool.config.notify_new_sign_ins {
        return;
    }
    let origin = accounts::Origin {
        network: &caller.network(),
        device: caller.device.as_deref(),
        user_agent: caller.user_agent.as_deref(),
    };
    match state
        .users
        .note_sign_in_origin(pool, issued.account.sub, &origin, state.clock.now())
        .await
    {
        Ok((false, false)) => {}
        Ok(_) => state.mail.wake(),
        Err(e) => tracing::warn!(error = %e, "the origin of a sign-in could not be noted"),
    }
}

/// Signs the issued session's tokens.
pub async fn token_set(
    state: &AppState,
    pool: &PoolRecord,
    issued: &Issued,
) -> Result<TokenSet, accounts::Error> {
    let now = state.clock.now();
    let keys = state.keys.keys(pool.id, now).await?;
    tokens::issue(&keys, &state.config.issuer(&pool.name), pool, issued, now)
}

/// Email and password, under the limits per client address, the lockout per (email,
/// address) and the cap per email: counted before the password is checked. Counted in the
/// metrics as a `password` sign-in.
pub async fn password(
    state: &AppState,
    pool: &PoolRecord,
    caller: &Caller,
    email: &str,
    password: &str,
) -> Result<Outcome, Error> {
    let outcome = check_password(state, pool, caller, email, password).await;
    super::counted(state, pool, SignInMethod::Password, outcome)
}

async fn check_password(
    state: &AppState,
    pool: &PoolRecord,
    caller: &Caller,
    email: &str,
    password: &str,
) -> Result<Outcome, Error> {
    let ip = caller.ip.as_str();
    ratelimit::hit(state, pool, ATTEMPTS_PER_IP, ip).await?;
    let attempt = ratelimit::reserve_sign_in(state, pool, email, ip).await?;
    let outcome = state
        .users
        .sign_in_password(
            pool,
            email,
            password,
            &caller.session_request(),
            state.clock.now(),
        )
        .await;
    attempt.settle(state, &outcome).await;
    let outcome = mfa::settle(state, outcome?).await?;
    if let Outcome::Done(issued) = &outcome {
        note_origin(state, pool, caller, issued).await;
    }
    Ok(outcome)
}

/// A wallet's signed EIP-4361 message; a wallet's first sign-in creates its account.
/// Counted in the metrics as a `siwe` sign-in.
pub async fn wallet(
    state: &AppState,
    pool: &PoolRecord,
    caller: &Caller,
    message: &str,
    signature: &str,
) -> Result<Outcome, Error> {
    let outcome = check_wallet(state, pool, caller, message, signature).await;
    super::counted(state, pool, SignInMethod::Siwe, outcome)
}

async fn check_wallet(
    state: &AppState,
    pool: &PoolRecord,
    caller: &Caller,
    message: &str,
    signature: &str,
) -> Result<Outcome, Error> {
    let limit = (ATTEMPTS_PER_IP, caller.ip.as_str());
    let wallet = siwe::prove_counted(state, pool, limit, message, signature).await?;
    let signed_in = state
        .users
        .sign_in_wallet(pool, &wallet, &caller.session_request(), state.clock.now())
        .await?;
    let outcome = mfa::settle(state, signed_in).await?;
    if let Outcome::Done(issued) = &outcome {
        note_origin(state, pool, caller, issued).await;
    }
    Ok(outcome)
}
