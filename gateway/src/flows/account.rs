//! The signed-in account's sensitive changes: the recent-authentication rule.

use accounts::AccountId;
use accounts::store::{PoolRecord, SessionRecord};

use super::Error;
use crate::ratelimit::{self, PASSWORD_CHECK_FAILURES};
use crate::state::AppState;

/// How recent a sign-in must be for a change that could take an account over (its email,
/// its wallets, a password where there was none): a stolen access token must not do it.
pub const REAUTH_WINDOW: i64 = 15 * 60;

/// A sensitive change needs a recent authentication: `session` signed in (or recovered)
/// within [`REAUTH_WINDOW`], or the current password given in the request (wrong ones
/// counted under [`PASSWORD_CHECK_FAILURES`]). Otherwise
/// [`accounts::Error::ReauthenticationRequired`].
pub async fn require_recent(
    state: &AppState,
    pool: &PoolRecord,
    account: AccountId,
    session: &SessionRecord,
    current_password: Option<&str>,
) -> Result<(), Error> {
    let now = state.clock.now();
    if now - session.auth_time <= REAUTH_WINDOW {
        return Ok(());
    }
    let Some(password) = current_password else {
        return Err(accounts::Error::ReauthenticationRequired.into());
    };
    let subject = account.to_string();
    let reservation =
        ratelimit::reserve(state, pool, &[(PASSWORD_CHECK_FAILURES, &subject)]).await?;
    let outcome = state
        .users
        .verify_current_password(pool, account, password, now)
        .await;
    let failed = outcome
        .as_ref()
        .err()
        .is_some_and(ratelimit::counts_as_failure);
    reservation.settle(state, failed).await;
    Ok(outcome?)
}

/// Sets or changes the password of `session`'s account. Without the current password (an
/// account that has none, or a recovery), it needs a recent sign-in: a stolen access token
/// must not set a password and keep the account. Wrong current passwords are counted under
/// [`PASSWORD_CHECK_FAILURES`]; the other sessions end and a notice is mailed.
pub async fn change_password(
    state: &AppState,
    pool: &PoolRecord,
    session: &SessionRecord,
    current: Option<&str>,
    new: &str,
) -> Result<(), Error> {
    let account = session.account_id;
    if current.is_none() {
        require_recent(state, pool, account, session, None).await?;
    }
    let now = state.clock.now();
    let subject = account.to_string();
    let reservation =
        ratelimit::reserve(state, pool, &[(PASSWORD_CHECK_FAILURES, &subject)]).await?;
    let change = accounts::PasswordChange {
        current,
        new,
        session: session.id,
        recovered: session.amr.first().is_some_and(|m| m == "email")
            && now - session.auth_time <= REAUTH_WINDOW,
    };
    let outcome = state
        .users
        .change_password(pool, account, change, now)
        .await;
    let failed = outcome
        .as_ref()
        .err()
        .is_some_and(ratelimit::counts_as_failure);
    reservation.settle(state, failed).await;
    outcome?;
    state.mail.wake();
    Ok(())
}
