//! Sign-up by email: the sign-up with its mail budget, a new code, and the confirmation
//! with its attempt limits.

use accounts::hooks::Method;
use accounts::store::PoolRecord;
use serde_json::{Map, Value};

use super::Error;
use super::hooks;
use super::sign_in::Caller;
use crate::hooks::triggers::SignUp;
use crate::ratelimit::{self, ATTEMPTS_PER_IP};
use crate::state::AppState;

/// Creates a pending account and mails a code (an existing address gets a notice). The
/// pool's `pre_sign_up` hook may refuse it, or confirm it at once (no code: the account is
/// active, its email verified, and `post_confirmation` is told). Returns whether the hook
/// confirmed it: the same for a new address and one that has an account (DESIGN rule 5).
pub async fn start(
    state: &AppState,
    pool: &PoolRecord,
    caller: &Caller,
    email: &str,
    password: &str,
    attributes: Option<Map<String, Value>>,
) -> Result<bool, Error> {
    let ip = caller.ip.as_str();
    let mut ctx = hooks::context(pool, caller, Method::Password);
    ctx.email = Some(accounts::Email::parse(email)?.as_str().to_string());
    // Before any budget is spent: a refused sign-up sends nothing.
    let data = serde_json::json!({ "attributes": attributes.clone().unwrap_or_default() });
    let decision = hooks::pre_sign_up(state, pool, &ctx, data).await?;
    let auto_confirm = decision == SignUp::AutoConfirm;
    let mut created = None;
    let signup = async {
        created = state
            .users
            .signup(
                pool,
                email,
                password,
                attributes,
                auto_confirm,
                state.clock.now(),
            )
            .await?;
        Ok(())
    };
    super::under_mail_budget(state, pool, ip, email, signup).await?;
    if let Some(sub) = created {
        ctx.sub = Some(sub.to_string());
        hooks::post_confirmation(state, pool, ctx, true).await;
    }
    Ok(auto_confirm)
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
    caller: &Caller,
    email: &str,
    code: &str,
    password: &str,
) -> Result<(), Error> {
    ratelimit::hit(state, pool, ATTEMPTS_PER_IP, &caller.ip).await?;
    let confirm = state
        .users
        .confirm_signup(pool, email, code, password, state.clock.now());
    let subject = format!("signup:{}", ratelimit::email_subject(email));
    let sub = ratelimit::code_attempt(state, pool, &subject, confirm).await??;
    let mut ctx = hooks::context(pool, caller, Method::Password);
    ctx.sub = Some(sub.to_string());
    ctx.email = accounts::Email::parse(email)
        .ok()
        .map(|e| e.as_str().to_string());
    hooks::post_confirmation(state, pool, ctx, false).await;
    Ok(())
}
