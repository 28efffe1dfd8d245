//! Use cases: each combines domain calls (the user pool, wallets, rate limits, tokens, the
//! ephemeral store) into one thing a person or an app does, for the API and the hosted pages
//! alike. Handlers in `http` parse, call one flow, and map its result; nothing here knows
//! HTTP, and nothing here imports from `http` (DESIGN: `http` → `flows` → domain and
//! gateway services).

pub mod account;
pub mod authorize;
pub mod federation;
pub mod hooks;
pub mod mfa;
pub mod passkeys;
pub mod recovery;
pub mod sign_in;
pub mod signup;
pub mod storage;

use crate::metrics::{SignInMethod, SignInResult};

/// Why an account flow (sign-in, sign-up, recovery, a sensitive change) did not complete.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rate limit refused the attempt before anything was checked.
    #[error("rate limited; retry after {retry_after} s")]
    Limited { retry_after: u64 },
    /// The user pool refused it (or a store failed).
    #[error(transparent)]
    Account(#[from] accounts::Error),
    /// A Sign-In with Ethereum message or signature was refused.
    #[error(transparent)]
    Wallet(#[from] wallet::VerifyError),
}

impl Error {
    /// What the sign-in this error ended was, for the metrics: a rate limit, the service's
    /// own failure (a store, an unreachable chain), or a refusal.
    pub fn sign_in_result(&self) -> SignInResult {
        match self {
            Error::Limited { .. } => SignInResult::RateLimited,
            Error::Account(e) => SignInResult::of_account_error(e),
            Error::Wallet(wallet::VerifyError::ChainUnavailable(_)) => SignInResult::Error,
            Error::Wallet(_) => SignInResult::Failure,
        }
    }
}

/// What a sign-in that went through was: a session, or a first factor followed by a
/// challenge.
trait Counted {
    fn result(&self) -> SignInResult {
        SignInResult::Success
    }
}

impl Counted for mfa::Outcome {
    fn result(&self) -> SignInResult {
        match self {
            mfa::Outcome::Done(_) => SignInResult::Success,
            mfa::Outcome::Challenge(_) => SignInResult::Challenged,
        }
    }
}

impl Counted for mfa::Answered {}

impl Counted for accounts::Issued {}

/// Counts a sign-in by `method` in `pool` with its outcome, and hands the outcome on.
fn counted<T: Counted>(
    state: &crate::state::AppState,
    pool: &accounts::store::PoolRecord,
    method: SignInMethod,
    outcome: Result<T, Error>,
) -> Result<T, Error> {
    let result = match &outcome {
        Ok(done) => done.result(),
        Err(e) => e.sign_in_result(),
    };
    state.metrics.sign_in(&pool.name, method, result);
    outcome
}

impl From<crate::ratelimit::Error> for Error {
    fn from(e: crate::ratelimit::Error) -> Self {
        match e {
            crate::ratelimit::Error::Limited { retry_after } => Error::Limited { retry_after },
            crate::ratelimit::Error::Store(e) => Error::Account(e),
        }
    }
}

impl From<crate::siwe::Error> for Error {
    fn from(e: crate::siwe::Error) -> Self {
        match e {
            crate::siwe::Error::Refused(e) => Error::Wallet(e),
            crate::siwe::Error::Store(e) => Error::Account(e),
            crate::siwe::Error::Limited { retry_after } => Error::Limited { retry_after },
        }
    }
}

/// Runs `send` (a change that queues mail to `email`) under the mail budgets of an
/// unauthenticated request (per client address, per recipient), and wakes the mail worker:
/// the shape of sign-up, resend and recovery alike.
async fn under_mail_budget(
    state: &crate::state::AppState,
    pool: &accounts::store::PoolRecord,
    ip: &str,
    email: &str,
    send: impl Future<Output = Result<(), accounts::Error>>,
) -> Result<(), Error> {
    let budget = crate::ratelimit::mail_budget(state, pool, ip, email).await?;
    let outcome = send.await;
    budget.settle(state, &outcome).await;
    outcome?;
    state.mail.wake();
    Ok(())
}
