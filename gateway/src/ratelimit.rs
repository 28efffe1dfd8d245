//! Rate limits, counted in the ephemeral store so every instance shares them: fixed windows
//! per client address, per email address and per account, and caps on failed attempts
//! (passwords, codes) that refuse further tries for the rest of the window.

use accounts::PoolId;
use accounts::store::PoolRecord;
use std::time::Duration;

use crate::http::error::AppError;
use crate::state::AppState;

#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub name: &'static str,
    pub max: u64,
    pub window: u64,
}

/// Unauthenticated endpoints that send mail (sign-up, resend, recovery), per address.
pub const MAIL_PER_IP: Limit = Limit {
    name: "mail-ip",
    max: 30,
    window: 60,
};
/// Mails to one email address, whatever the sender.
pub const MAIL_PER_EMAIL: Limit = Limit {
    name: "mail-email",
    max: 5,
    window: 900,
};
/// Code mails one signed-in account may ask for (email changes).
pub const MAIL_PER_ACCOUNT: Limit = Limit {
    name: "mail-account",
    max: 10,
    window: 3600,
};
/// Sign-in and code attempts per address.
pub const ATTEMPTS_PER_IP: Limit = Limit {
    name: "attempt-ip",
    max: 60,
    window: 60,
};
/// Wrong codes per email (or account) and day, across every code sent: a new code does not
/// buy new guesses.
pub const CODE_FAILURES: Limit = Limit {
    name: "code-fail",
    max: 20,
    window: 86_400,
};
/// Wrong current passwords given to `/v1/me/password`, per account.
pub const PASSWORD_CHECK_FAILURES: Limit = Limit {
    name: "pwcheck-fail",
    max: 10,
    window: 900,
};
/// Failed sign-ins per email from all addresses together: a cap against distributed
/// guessing, high enough that nobody can lock a user out from one address.
pub const SIGN_IN_FAILURES_PER_EMAIL: Limit = Limit {
    name: "signin-fail-email",
    max: 100,
    window: 900,
};

fn key(limit: Limit, pool: PoolId, subject: &str) -> String {
    format!("rl:{}:{pool}:{}", limit.name, subject.trim().to_lowercase())
}

/// Counts one hit against `limit` for `subject`; answers 429 past the limit.
pub async fn hit(
    state: &AppState,
    pool: PoolId,
    limit: Limit,
    subject: &str,
) -> Result<(), AppError> {
    let n = state
        .ephemeral
        .hit(
            &key(limit, pool, subject),
            Duration::from_secs(limit.window),
        )
        .await?;
    if n > limit.max {
        return Err(AppError::RateLimited {
            retry_after: limit.window,
        });
    }
    Ok(())
}

/// Refuses when `subject` already used up `limit`, without counting this request; pair with
/// [`record`] once the request did what is counted (so refused input does not use the
/// budget, and failures are counted only when they happen).
pub async fn check(
    state: &AppState,
    pool: PoolId,
    limit: Limit,
    subject: &str,
) -> Result<(), AppError> {
    if state.ephemeral.count(&key(limit, pool, subject)).await? >= limit.max {
        return Err(AppError::RateLimited {
            retry_after: limit.window,
        });
    }
    Ok(())
}

/// Counts one event against `limit` without refusing this request.
pub async fn record(
    state: &AppState,
    pool: PoolId,
    limit: Limit,
    subject: &str,
) -> Result<(), AppError> {
    state
        .ephemeral
        .hit(
            &key(limit, pool, subject),
            Duration::from_secs(limit.window),
        )
        .await?;
    Ok(())
}

pub async fn clear(
    state: &AppState,
    pool: PoolId,
    limit: Limit,
    subject: &str,
) -> Result<(), AppError> {
    state.ephemeral.delete(&key(limit, pool, subject)).await?;
    Ok(())
}

/// The pool's lockout: failed sign-ins per (email, client address).
fn sign_in_limit(pool: &PoolRecord) -> Limit {
    Limit {
        name: "signin-fail",
        max: pool.config.sign_in_max_failures,
        window: pool.config.sign_in_window,
    }
}

/// Refuses a password sign-in for an email that failed too often recently from this
/// address (or from everywhere), before any password is checked. Both counters are read in
/// one round trip; the answer says whether this address has failures to clear on success.
pub async fn check_sign_in(
    state: &AppState,
    pool: &PoolRecord,
    email: &str,
    ip: &str,
) -> Result<bool, AppError> {
    let here = sign_in_limit(pool);
    let keys = [
        key(here, pool.id, &format!("{email}|{ip}")),
        key(SIGN_IN_FAILURES_PER_EMAIL, pool.id, email),
    ];
    let counts = state.ephemeral.counts(&keys).await?;
    let (from_here, everywhere) = (
        counts.first().copied().unwrap_or(0),
        counts.get(1).copied().unwrap_or(0),
    );
    if from_here >= here.max {
        return Err(AppError::RateLimited {
            retry_after: here.window,
        });
    }
    if everywhere >= SIGN_IN_FAILURES_PER_EMAIL.max {
        return Err(AppError::RateLimited {
            retry_after: SIGN_IN_FAILURES_PER_EMAIL.window,
        });
    }
    Ok(from_here > 0)
}

pub async fn sign_in_failed(
    state: &AppState,
    pool: &PoolRecord,
    email: &str,
    ip: &str,
) -> Result<(), AppError> {
    record(
        state,
        pool.id,
        sign_in_limit(pool),
        &format!("{email}|{ip}"),
    )
    .await?;
    record(state, pool.id, SIGN_IN_FAILURES_PER_EMAIL, email).await
}

pub async fn sign_in_succeeded(
    state: &AppState,
    pool: &PoolRecord,
    email: &str,
    ip: &str,
) -> Result<(), AppError> {
    clear(
        state,
        pool.id,
        sign_in_limit(pool),
        &format!("{email}|{ip}"),
    )
    .await
}

/// Runs a code check under [`CODE_FAILURES`] for `subject`: refused when the budget is
/// spent, and a wrong code is counted.
pub async fn code_attempt<T>(
    state: &AppState,
    pool: PoolId,
    subject: &str,
    attempt: impl Future<Output = Result<T, accounts::Error>>,
) -> Result<T, AppError> {
    check(state, pool, CODE_FAILURES, subject).await?;
    match attempt.await {
        Err(accounts::Error::CodeInvalid) => {
            record(state, pool, CODE_FAILURES, subject).await?;
            Err(accounts::Error::CodeInvalid.into())
        }
        other => Ok(other?),
    }
}

/// The budgets of an unauthenticated request that may send mail to an address: per client
/// address (counted at once) and per recipient (checked at once, counted by
/// [`MailBudget::spend`] only once the request was valid).
pub struct MailBudget {
    pool: PoolId,
    recipient: String,
}

pub async fn mail_budget(
    state: &AppState,
    pool: PoolId,
    ip: &str,
    email: &str,
) -> Result<MailBudget, AppError> {
    hit(state, pool, MAIL_PER_IP, ip).await?;
    let recipient = email.trim().to_lowercase();
    check(state, pool, MAIL_PER_EMAIL, &recipient).await?;
    Ok(MailBudget { pool, recipient })
}

impl MailBudget {
    pub async fn spend(self, state: &AppState) -> Result<(), AppError> {
        record(state, self.pool, MAIL_PER_EMAIL, &self.recipient).await
    }
}
