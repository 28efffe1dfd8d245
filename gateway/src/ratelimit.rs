//! Rate limits, counted in the ephemeral store so every instance shares them: fixed windows
//! per client address and per email address, and a cap on failed password sign-ins.

use accounts::PoolId;
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
/// Sign-in and code attempts per address.
pub const ATTEMPTS_PER_IP: Limit = Limit {
    name: "attempt-ip",
    max: 60,
    window: 60,
};

/// Counts one hit against `limit` for `subject`; answers 429 past the limit.
pub async fn hit(
    state: &AppState,
    pool: PoolId,
    limit: Limit,
    subject: &str,
) -> Result<(), AppError> {
    let key = format!("rl:{}:{pool}:{subject}", limit.name);
    let n = state
        .ephemeral
        .hit(&key, Duration::from_secs(limit.window))
        .await?;
    if n > limit.max {
        return Err(AppError::RateLimited {
            retry_after: limit.window,
        });
    }
    Ok(())
}

/// Refuses when `subject` already used up `limit`, without counting this request; pair with
/// [`hit`] once the request did what is counted (so refused input does not use the budget).
pub async fn check(
    state: &AppState,
    pool: PoolId,
    limit: Limit,
    subject: &str,
) -> Result<(), AppError> {
    let key = format!("rl:{}:{pool}:{subject}", limit.name);
    if state.ephemeral.count(&key).await? >= limit.max {
        return Err(AppError::RateLimited {
            retry_after: limit.window,
        });
    }
    Ok(())
}

fn failures_key(pool: PoolId, email: &str) -> String {
    format!("rl:signin-fail:{pool}:{}", email.trim().to_lowercase())
}

/// Refuses a password sign-in for an email that failed too often recently, before any
/// password is checked (so a locked email costs an attacker nothing to learn).
pub async fn check_sign_in(
    state: &AppState,
    pool: &accounts::store::PoolRecord,
    email: &str,
) -> Result<(), AppError> {
    let n = state.ephemeral.count(&failures_key(pool.id, email)).await?;
    if n >= pool.config.sign_in_max_failures {
        return Err(AppError::RateLimited {
            retry_after: pool.config.sign_in_window,
        });
    }
    Ok(())
}

pub async fn sign_in_failed(
    state: &AppState,
    pool: &accounts::store::PoolRecord,
    email: &str,
) -> Result<(), AppError> {
    state
        .ephemeral
        .hit(
            &failures_key(pool.id, email),
            Duration::from_secs(pool.config.sign_in_window),
        )
        .await?;
    Ok(())
}

pub async fn sign_in_succeeded(
    state: &AppState,
    pool: &accounts::store::PoolRecord,
    email: &str,
) -> Result<(), AppError> {
    state
        .ephemeral
        .delete(&failures_key(pool.id, email))
        .await?;
    Ok(())
}
