//! Rate limits, counted in the ephemeral store so every instance shares them: fixed windows
//! per client address, per email address and per account, and caps on failed attempts
//! (passwords, codes) that refuse further tries for the rest of the window.
//!
//! Every limit counts first and decides on the count it got back (increment, then compare),
//! so no number of parallel requests passes it. An attempt that turns out not to count
//! (a right password, a refused request) is taken back afterwards ([`Reservation`]).
//! Subjects that are email addresses are keyed by [`accounts::Email::key`], the one form
//! an account is stored under, so no spelling of an address gets a budget of its own.
//! Every refusal is counted in the metrics by pool and limit name (never by subject).

use accounts::store::PoolRecord;
use accounts::{Email, PoolId};
use std::time::Duration;

use crate::state::AppState;

/// Why a limited request did not go through.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("rate limited; retry after {retry_after} s")]
    Limited { retry_after: u64 },
    #[error(transparent)]
    Store(#[from] accounts::Error),
}

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
/// SIWE nonces per client address.
pub const NONCES_PER_IP: Limit = Limit {
    name: "siwe-nonce-ip",
    max: 60,
    window: 60,
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
/// Wrong current passwords given to the account API (password change, re-authentication),
/// per account.
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
    format!("rl:{}:{pool}:{subject}", limit.name)
}

/// The subject of limits keyed by an email address: its normalised form.
pub fn email_subject(raw: &str) -> String {
    Email::key(raw)
}

/// `limit` as `pool` sets it (its `rate_limits`), or the gateway's.
fn effective(pool: &PoolRecord, limit: Limit) -> Limit {
    match pool.config.rate_limits.get(limit.name) {
        Some(own) => Limit {
            name: limit.name,
            max: own.max,
            window: own.window_seconds,
        },
        None => limit,
    }
}

/// The refusal of a request past `limit`, counted in the metrics.
fn refused(state: &AppState, pool: &PoolRecord, limit: Limit) -> Error {
    state.metrics.rate_limited(&pool.name, limit.name);
    Error::Limited {
        retry_after: limit.window,
    }
}

/// Counts one hit against `limit` for `subject`; refuses past the limit.
pub async fn hit(
    state: &AppState,
    pool: &PoolRecord,
    limit: Limit,
    subject: &str,
) -> Result<(), Error> {
    let limit = effective(pool, limit);
    let n = state
        .ephemeral
        .hit(
            &key(limit, pool.id, subject),
            Duration::from_secs(limit.window),
        )
        .await?;
    if n > limit.max {
        return Err(refused(state, pool, limit));
    }
    Ok(())
}

/// Counts one hit of `limit` and, within it, takes `key` from the ephemeral store: one
/// round trip. Past the limit nothing is taken and the request is refused.
pub async fn hit_and_take(
    state: &AppState,
    pool: &PoolRecord,
    limit: Limit,
    subject: &str,
    key: &str,
) -> Result<Option<String>, Error> {
    let limit = effective(pool, limit);
    let counter = self::key(limit, pool.id, subject);
    let (n, taken) = state
        .ephemeral
        .hit_and_take(
            (&counter, Duration::from_secs(limit.window)),
            limit.max,
            key,
        )
        .await?;
    if n > limit.max {
        return Err(refused(state, pool, limit));
    }
    Ok(taken)
}

/// Counts one hit of `limit` and, within it, stores `value` under `key` if absent: one
/// round trip. True when stored.
pub async fn hit_and_put_new(
    state: &AppState,
    pool: &PoolRecord,
    (limit, subject): (Limit, &str),
    key: &str,
    value: &str,
    ttl: Duration,
) -> Result<bool, Error> {
    let limit = effective(pool, limit);
    let counter = self::key(limit, pool.id, subject);
    let (n, stored) = state
        .ephemeral
        .hit_and_put_new(
            (&counter, Duration::from_secs(limit.window)),
            limit.max,
            key,
            value,
            ttl,
        )
        .await?;
    if n > limit.max {
        return Err(refused(state, pool, limit));
    }
    Ok(stored)
}

/// Hits counted ahead of an attempt: kept when the attempt counts (a failure, a mail
/// sent), taken back otherwise.
#[must_use = "keep or refund the reservation"]
pub struct Reservation {
    keys: Vec<String>,
    counts: Vec<u64>,
}

/// Counts one hit on each `(limit, subject)` in one round trip. If any is past its limit,
/// every hit is taken back (a refused request uses no budget, so hammering a locked key
/// does not lock others) and the request is refused.
pub async fn reserve(
    state: &AppState,
    pool: &PoolRecord,
    limits: &[(Limit, &str)],
) -> Result<Reservation, Error> {
    // A pool that sets no limit of its own (the usual case) costs no copy on a sign-in.
    let own: Vec<(Limit, &str)>;
    let limits = if pool.config.rate_limits.is_empty() {
        limits
    } else {
        own = limits
            .iter()
            .map(|(l, s)| (effective(pool, *l), *s))
            .collect();
        own.as_slice()
    };
    let keys: Vec<String> = limits.iter().map(|(l, s)| key(*l, pool.id, s)).collect();
    let spec: Vec<(&str, Duration)> = keys
        .iter()
        .zip(limits)
        .map(|(k, (l, _))| (k.as_str(), Duration::from_secs(l.window)))
        .collect();
    let counts = state.ephemeral.hits(&spec).await?;
    let over: Vec<Limit> = limits
        .iter()
        .zip(&counts)
        .filter(|((l, _), n)| **n > l.max)
        .map(|((l, _), _)| *l)
        .collect();
    let reservation = Reservation { keys, counts };
    if let Some(retry_after) = over.iter().map(|l| l.window).max() {
        reservation.refund(state).await?;
        for limit in over {
            state.metrics.rate_limited(&pool.name, limit.name);
        }
        return Err(Error::Limited { retry_after });
    }
    Ok(reservation)
}

impl Reservation {
    /// The count the `i`-th limit reached with this hit.
    pub fn count(&self, i: usize) -> u64 {
        self.counts.get(i).copied().unwrap_or(0)
    }

    /// The attempt did not count: the hits are taken back.
    pub async fn refund(self, state: &AppState) -> Result<(), Error> {
        let keys: Vec<&str> = self.keys.iter().map(String::as_str).collect();
        state.ephemeral.unhit(&keys).await?;
        Ok(())
    }

    /// Keeps the hits when `counted`, refunds them otherwise. Called once the attempt ran
    /// (its change may be committed), so a refund that fails is logged, never answered: the
    /// worst it does is count one attempt too many.
    pub async fn settle(self, state: &AppState, counted: bool) {
        if counted {
            return;
        }
        if let Err(e) = self.refund(state).await {
            tracing::warn!(error = %e, "a rate-limit hit could not be taken back");
        }
    }
}

/// Whether a failed attempt counts against a failure budget: every error does, except those
/// raised before any secret was checked (bad input). An error after the check (a store that
/// failed to write the audit row, say) still counts, so failures cannot buy free guesses.
pub fn counts_as_failure(e: &accounts::Error) -> bool {
    use accounts::Error as E;
    !matches!(
        e,
        E::InvalidEmail
            | E::PasswordTooShort { .. }
            | E::PasswordTooLong { .. }
            | E::PasswordTooCommon
            | E::PasswordMatchesEmail
            | E::PasswordCompromised
            | E::InvalidAttributes(_)
            | E::CurrentPasswordRequired
            | E::ReauthenticationRequired
            // The pool's own hook failed: the person did nothing wrong.
            | E::HookFailed
            // Refused at capacity before the secret was checked: no guess was made.
            | E::Overloaded(_)
    )
}

/// The pool's lockout: failed sign-ins per (email, client address).
fn sign_in_limit(pool: &PoolRecord) -> Limit {
    Limit {
        name: "signin-fail",
        max: pool.config.sign_in_max_failures,
        window: pool.config.sign_in_window,
    }
}

/// A password sign-in's two failure budgets, reserved before any password is checked:
/// per (email, client address) (the pool's lockout) and per email from everywhere.
pub struct SignInAttempt {
    reservation: Reservation,
    lockout_key: String,
}

pub async fn reserve_sign_in(
    state: &AppState,
    pool: &PoolRecord,
    email: &str,
    ip: &str,
) -> Result<SignInAttempt, Error> {
    let email = email_subject(email);
    let here = format!("{email}|{ip}");
    let lockout = sign_in_limit(pool);
    let reservation = reserve(
        state,
        pool,
        &[(lockout, &here), (SIGN_IN_FAILURES_PER_EMAIL, &email)],
    )
    .await?;
    Ok(SignInAttempt {
        reservation,
        lockout_key: key(lockout, pool.id, &here),
    })
}

impl SignInAttempt {
    /// Settles the reservation with the sign-in's outcome: a failure (see
    /// [`counts_as_failure`]) stays counted; a success takes both hits back and clears this
    /// address's earlier failures for the email. Best effort once the sign-in ran.
    pub async fn settle<T>(self, state: &AppState, outcome: &Result<T, accounts::Error>) {
        let failed = match outcome {
            Ok(_) => false,
            Err(e) => counts_as_failure(e),
        };
        let earlier_failures = self.reservation.count(0) > 1;
        self.reservation.settle(state, failed).await;
        if outcome.is_ok()
            && earlier_failures
            && let Err(e) = state.ephemeral.delete(&self.lockout_key).await
        {
            tracing::warn!(error = %e, "a sign-in lockout could not be cleared");
        }
    }
}

/// Runs a code check under [`CODE_FAILURES`] for `subject`: refused when the budget is
/// spent; a wrong code (or a wrong password given with a code), or any failure after the
/// check, stays counted.
pub async fn code_attempt<T>(
    state: &AppState,
    pool: &PoolRecord,
    subject: &str,
    attempt: impl Future<Output = Result<T, accounts::Error>>,
) -> Result<Result<T, accounts::Error>, Error> {
    let reservation = reserve(state, pool, &[(CODE_FAILURES, subject)]).await?;
    let outcome = attempt.await;
    let counted = outcome.as_ref().err().is_some_and(counts_as_failure);
    reservation.settle(state, counted).await;
    Ok(outcome)
}

/// The budgets of an unauthenticated request that may send mail to an address: per client
/// address (counted, never taken back) and per recipient (reserved; taken back by
/// [`MailBudget::settle`] when the request was refused, so refused input uses no budget).
pub struct MailBudget(Reservation);

pub async fn mail_budget(
    state: &AppState,
    pool: &PoolRecord,
    ip: &str,
    email: &str,
) -> Result<MailBudget, Error> {
    hit(state, pool, MAIL_PER_IP, ip).await?;
    let recipient = email_subject(email);
    Ok(MailBudget(
        reserve(state, pool, &[(MAIL_PER_EMAIL, &recipient)]).await?,
    ))
}

impl MailBudget {
    /// Keeps the budget spent when the request went through, gives it back otherwise.
    pub async fn settle<T>(self, state: &AppState, outcome: &Result<T, accounts::Error>) {
        self.0.settle(state, outcome.is_ok()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limits a pool may set are exactly the gateway's fixed ones, by name.
    #[test]
    fn pools_may_set_every_fixed_limit_and_no_other() {
        let fixed = [
            MAIL_PER_IP,
            MAIL_PER_EMAIL,
            MAIL_PER_ACCOUNT,
            NONCES_PER_IP,
            ATTEMPTS_PER_IP,
            CODE_FAILURES,
            PASSWORD_CHECK_FAILURES,
            SIGN_IN_FAILURES_PER_EMAIL,
        ];
        let mut names: Vec<&str> = fixed.iter().map(|l| l.name).collect();
        let mut settable = accounts::policy::RATE_LIMIT_NAMES.to_vec();
        names.sort_unstable();
        settable.sort_unstable();
        assert_eq!(names, settable);
    }
}
