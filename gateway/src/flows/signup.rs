//! Sign-up by email: the sign-up with its mail budget, a new code, and the confirmation
//! with its attempt limits.

use accounts::store::PoolRecord;
use serde_json::{Map, Value};

use super::Error;
use crate::ratelimit::{self, ATTEMPTS_PER_IP};
use crate::state::AppState;

/// Creates a pending account and mails a code (an existing address gets a notice).
pub async fn start(
    state: &AppState,
    pool: &PoolRecord,
    ip: &str,
    email: &str,
    password: &str,
    attributes: Option<Map<String, Value>>,
) -> Result<(), Error> {
    let signup = state
        .users
        .signup(pool, email, password, attributes, state.clock.now());
    super::under_mail_budget(state, pool, ip, email, signup).await
}

/// A new code for an unconfirmed account; nothing (at the same cost) otherwise.
pub async fn resend(
    state: &AppState,
    pool: &PoolRecord,
    ip: &str,
    email: &str,
) -> Result<(), Error> {
    let resend = state
        .users
        .resend_signup_code(pool, email, state.clock.now());
    super::under_mail_budget(state, pool, ip, email, resend).await
}

/// Confirms the email with its code and the password of the sign-up it is for.
pub async fn confirm(
    state: &AppState,
    pool: &PoolRecord,
    ip: &str,
    email: &str,
    code: &str,
    password: &str,
) -> Result<(), Error> {
    ratelimit::hit(state, pool, ATTEMPTS_PER_IP, ip).await?;
    let confirm = state
        .users
        .confirm_signup(pool, email, code, password, state.clock.now());
    let subject = format!("signup:{}", ratelimit::email_subject(email));
    ratelimit::code_attempt(state, pool, &subject, confirm).await??;
    Ok(())
}
