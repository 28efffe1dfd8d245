//! Use cases: each combines domain calls (the user pool, wallets, rate limits, tokens, the
//! ephemeral store) into one thing a person or an app does, for the API and the hosted pages
//! alike. Handlers in `http` parse, call one flow, and map its result; nothing here knows
//! HTTP, and nothing here imports from `http` (DESIGN: `http` → `flows` → domain and
//! gateway services).

pub mod account;
pub mod authorize;
pub mod recovery;
pub mod sign_in;
pub mod signup;
pub mod storage;

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
    let budget = crate::ratelimit::mail_budget(state, pool.id, ip, email).await?;
    let outcome = send.await;
    budget.settle(state, &outcome).await;
    outcome?;
    state.mail.wake();
    Ok(())
}
