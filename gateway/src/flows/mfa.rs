//! The second factor of a sign-in (DESIGN, Multi-factor authentication): a first factor
//! that passed but must be followed by a second opens a challenge, kept in the ephemeral
//! store (so every instance sees it) under the keyed hash of an opaque handle, for five
//! minutes, bound to its pool and account. Five wrong answers kill it; a right one takes it
//! (once: two right answers racing open one session). Wrong answers also count against the
//! account's lockout, under the pool's sign-in failure rules.

use accounts::policy::Factor;
use accounts::secret::{Secret, random_token};
use accounts::store::PoolRecord;
use accounts::{Issued, MfaChallenge, SignIn, TotpEnrolment};
use std::time::Duration;

use super::Error;
use crate::metrics::SignInMethod;
use crate::ratelimit::{self, ATTEMPTS_PER_IP, Limit};
use crate::state::AppState;

/// How long a challenge lives, seconds.
pub const CHALLENGE_TTL: u64 = 300;
/// Wrong answers that kill a challenge.
pub const MAX_WRONG_ANSWERS: u64 = 5;

/// How a first factor ended: a session, or a challenge to answer.
#[derive(Debug)]
pub enum Outcome {
    Done(Box<Issued>),
    Challenge(Challenge),
}

/// An open challenge, as the client holds it.
#[derive(Debug)]
pub struct Challenge {
    /// The opaque handle that answers it (`session` in the API).
    pub handle: Secret,
    /// The factors that answer it; under `setup`, those it may enrol.
    pub factors: Vec<Factor>,
    /// No factor yet under a `required` policy: enrolling one answers it.
    pub setup: bool,
}

/// A challenge answered: the session, and the backup codes of an app it enrolled.
#[derive(Debug)]
pub struct Answered {
    pub issued: Issued,
    pub backup_codes: Option<Vec<Secret>>,
}

fn key(state: &AppState, handle: &str) -> String {
    format!("mfa:{}", state.users.mac("mfa-challenge", handle))
}

/// Opens the challenge of a sign-in that needs one.
pub(super) async fn settle(state: &AppState, signed_in: SignIn) -> Result<Outcome, Error> {
    match signed_in {
        SignIn::Done(issued) => Ok(Outcome::Done(issued)),
        SignIn::Challenge(ch) => Ok(Outcome::Challenge(open(state, *ch).await?)),
    }
}

/// Step-up: a challenge for `session`, which signed in without a second factor (the API's
/// `POST /v1/sessions/step-up`, and an authorization with `acr_values=mfa`). Its answer
/// opens a new session with both factors.
pub async fn step_up(
    state: &AppState,
    pool: &PoolRecord,
    session: &accounts::store::SessionRecord,
) -> Result<Challenge, Error> {
    let ch = state
        .users
        .step_up(pool, session, state.clock.now())
        .await?;
    open(state, ch).await
}

/// Keeps `ch` under a new handle.
async fn open(state: &AppState, mut ch: MfaChallenge) -> Result<Challenge, Error> {
    // The store's TTL ends it for good; this clock decides first (as every other expiry).
    ch.expires_at = state.clock.now() + CHALLENGE_TTL as i64;
    let handle = random_token();
    let value = serde_json::to_string(&ch).map_err(|_| accounts::Error::Crypto)?;
    let ttl = Duration::from_secs(CHALLENGE_TTL);
    if !state
        .ephemeral
        .put_new(&key(state, handle.expose()), &value, ttl)
        .await?
    {
        // 256 random bits collided: not a thing that happens.
        return Err(accounts::Error::Crypto.into());
    }
    Ok(Challenge {
        handle,
        factors: ch.factors,
        setup: ch.setup,
    })
}

/// What a live challenge of `pool` takes (for a page shown again).
pub async fn describe(
    state: &AppState,
    pool: &PoolRecord,
    handle: &str,
) -> Result<(Vec<Factor>, bool), Error> {
    let ch = load(state, pool, handle).await?;
    Ok((ch.factors, ch.setup))
}

/// Where the state of a passkey ceremony answering the challenge `handle` waits.
pub(super) fn passkey_key(state: &AppState, handle: &str) -> String {
    format!("{}:passkey", key(state, handle))
}

/// The challenge `handle` names, if it is live and of `pool`.
pub(super) async fn load(
    state: &AppState,
    pool: &PoolRecord,
    handle: &str,
) -> Result<MfaChallenge, Error> {
    if handle.is_empty() || handle.len() > 128 {
        return Err(accounts::Error::MfaSessionInvalid.into());
    }
    let value = state.ephemeral.get(&key(state, handle)).await?;
    value
        .and_then(|v| serde_json::from_str::<MfaChallenge>(&v).ok())
        .filter(|ch| ch.pool == pool.id && ch.expires_at > state.clock.now())
        .ok_or_else(|| accounts::Error::MfaSessionInvalid.into())
}

/// Mails a code that answers the challenge, under the mail budgets of an unauthenticated
/// request (per client address and per recipient). A new code replaces the last one.
pub async fn send_email_code(
    state: &AppState,
    pool: &PoolRecord,
    ip: &str,
    handle: &str,
) -> Result<(), Error> {
    let ch = load(state, pool, handle).await?;
    let to = ch.email.clone().ok_or(accounts::Error::EmailUnverified)?;
    let code_key = format!("{}:email", key(state, handle));
    let now = state.clock.now();
    let send = async {
        let hash = state.users.send_mfa_code(pool, &ch, now).await?;
        state.ephemeral.delete(&code_key).await?;
        state
            .ephemeral
            .put_new(&code_key, &hash, Duration::from_secs(CHALLENGE_TTL))
            .await?;
        Ok(())
    };
    super::under_mail_budget(state, pool, ip, &to, send).await
}

/// Starts an authenticator app's enrolment under a `setup` challenge: its secret.
pub async fn start_totp(
    state: &AppState,
    pool: &PoolRecord,
    handle: &str,
    reuse: bool,
) -> Result<TotpEnrolment, Error> {
    let ch = load(state, pool, handle).await?;
    if !ch.setup || !ch.factors.contains(&Factor::Totp) {
        return Err(accounts::Error::FactorNotAllowed.into());
    }
    let label = ch.email.clone().unwrap_or_else(|| ch.account.to_string());
    Ok(state
        .users
        .start_totp(pool, ch.account, &label, reuse, state.clock.now())
        .await?)
}

/// The lockout of second factors: the pool's sign-in failure rules, per account.
fn lockout(pool: &PoolRecord) -> Limit {
    Limit {
        name: "mfa-fail",
        max: pool.config.sign_in_max_failures,
        window: pool.config.sign_in_window,
    }
}

/// Answers the challenge with `factor`'s `code`. Counted in the metrics as an `mfa`
/// sign-in.
pub async fn answer(
    state: &AppState,
    pool: &PoolRecord,
    caller: &super::sign_in::Caller,
    handle: &str,
    factor: Factor,
    code: &str,
) -> Result<Answered, Error> {
    let outcome = check_answer(state, pool, &caller.ip, handle, factor, code).await;
    if let Ok(answered) = &outcome {
        super::sign_in::note_origin(state, pool, caller, &answered.issued).await;
    }
    super::counted(state, pool, SignInMethod::Mfa, outcome)
}

async fn check_answer(
    state: &AppState,
    pool: &PoolRecord,
    ip: &str,
    handle: &str,
    factor: Factor,
    code: &str,
) -> Result<Answered, Error> {
    ratelimit::hit(state, pool, ATTEMPTS_PER_IP, ip).await?;
    let ch = load(state, pool, handle).await?;
    let key = key(state, handle);
    // Count the answer before checking it: no number of parallel answers gets more than
    // MAX_WRONG_ANSWERS checks.
    let wrong_key = format!("{key}:answers");
    let n = state
        .ephemeral
        .hit(&wrong_key, Duration::from_secs(CHALLENGE_TTL))
        .await?;
    if n > MAX_WRONG_ANSWERS {
        state.ephemeral.delete(&key).await?;
        return Err(accounts::Error::MfaSessionInvalid.into());
    }
    let subject = ch.account.to_string();
    let reservation = ratelimit::reserve(state, pool, &[(lockout(pool), &subject)]).await?;
    // An emailed code, or a passkey's assertion (`code`: the credential's JSON), is checked
    // here; the others by the user pool.
    let external_ok = match factor {
        Factor::Email => email_code_matches(state, &key, &ch, code).await?,
        Factor::Passkey => {
            let ceremony = passkey_key(state, handle);
            super::passkeys::answers_challenge(state, pool, &ceremony, ch.account, code).await?
        }
        _ => false,
    };
    let now = state.clock.now();
    let outcome = state
        .users
        .verify_mfa(pool, &ch, factor, code, external_ok, now)
        .await;
    let wrong = matches!(outcome, Err(accounts::Error::MfaCodeInvalid));
    reservation.settle(state, wrong).await;
    let backup_codes = match outcome {
        Ok(codes) => codes,
        Err(e) => {
            if wrong && n == MAX_WRONG_ANSWERS {
                state.ephemeral.delete(&key).await?;
            } else if !wrong {
                // Not an answer (a factor the challenge does not take): it costs nothing.
                state.ephemeral.unhit(&[&wrong_key]).await?;
            }
            return Err(e.into());
        }
    };
    // The challenge is answered once, whoever answered first.
    if state.ephemeral.take(&key).await?.is_none() {
        return Err(accounts::Error::MfaSessionInvalid.into());
    }
    state.ephemeral.delete(&format!("{key}:email")).await?;
    let issued = state.users.finish_mfa(pool, &ch, factor, now).await?;
    state.mail.wake();
    Ok(Answered {
        issued,
        backup_codes,
    })
}

/// Whether `code` is the last code mailed for the challenge (compared as keyed hashes, in
/// constant time).
async fn email_code_matches(
    state: &AppState,
    key: &str,
    ch: &MfaChallenge,
    code: &str,
) -> Result<bool, Error> {
    let Some(kept) = state.ephemeral.get(&format!("{key}:email")).await? else {
        return Ok(false);
    };
    let given = state.users.mfa_code_hash(ch.account, code);
    Ok(
        aws_lc_rs::constant_time::verify_slices_are_equal(kept.as_bytes(), given.as_bytes())
            .is_ok(),
    )
}
