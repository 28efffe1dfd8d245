//! Recovery by email (DESIGN rule 6): asking for a code under its mail budget, confirming it
//! under the code budget, and undoing an email change from the old address.

use accounts::store::PoolRecord;

use super::Error;
use super::mfa::{self, Outcome};
use crate::metrics::SignInMethod;
use crate::ratelimit::{self, ATTEMPTS_PER_IP};
use crate::state::AppState;

/// Queues a recovery code for the address; the same answer whether it has an account.
pub async fn send_code(
    state: &AppState,
    pool: &PoolRecord,
    ip: &str,
    email: &str,
) -> Result<(), Error> {
    let start = state.users.start_recovery(pool, email, state.clock.now());
    super::under_mail_budget(state, pool, ip, email, start).await
}

/// Proves the email with its code: a recovery session, maybe a new password. Counted in
/// the metrics as a `recovery` sign-in.
pub async fn recover(
    state: &AppState,
    pool: &PoolRecord,
    caller: &super::sign_in::Caller,
    email: &str,
    code: &str,
    new_password: Option<&str>,
) -> Result<Outcome, Error> {
    let outcome = confirm_code(state, pool, caller, email, code, new_password).await;
    super::counted(state, pool, SignInMethod::Recovery, outcome)
}

async fn confirm_code(
    state: &AppState,
    pool: &PoolRecord,
    caller: &super::sign_in::Caller,
    email: &str,
    code: &str,
    new_password: Option<&str>,
) -> Result<Outcome, Error> {
    ratelimit::hit(state, pool, ATTEMPTS_PER_IP, &caller.ip).await?;
    let request = caller.session_request();
    let confirm =
        state
            .users
            .confirm_recovery(pool, email, code, new_password, &request, state.clock.now());
    let subject = format!("recovery:{}", ratelimit::email_subject(email));
    let signed_in = ratelimit::code_attempt(state, pool, &subject, confirm).await??;
    state.mail.wake();
    let outcome = mfa::settle(state, signed_in).await?;
    if let Outcome::Done(issued) = &outcome {
        super::sign_in::note_origin(state, pool, caller, issued).await;
    }
    Ok(outcome)
}

/// "This wasn't me": undoes an email change with the link mailed to the old address;
/// answers the restored address.
pub async fn undo_email_change(
    state: &AppState,
    pool: &PoolRecord,
    ip: &str,
    token: &str,
) -> Result<String, Error> {
    ratelimit::hit(state, pool, ATTEMPTS_PER_IP, ip).await?;
    let restored = state
        .users
        .undo_email_change(pool, token, state.clock.now())
        .await?;
    state.mail.wake();
    Ok(restored)
}
