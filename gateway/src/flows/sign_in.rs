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
}

impl Caller {
    pub fn session_request(&self) -> NewSessionRequest {
        NewSessionRequest::from_agent(self.user_agent.as_deref())
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
    mfa::settle(state, outcome?).await
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
    mfa::settle(state, signed_in).await
}
