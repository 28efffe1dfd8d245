//! Signing in: with a password or a wallet, each under its rate limits, and the token set a
//! sign-in ends with.

use accounts::store::PoolRecord;
use accounts::{Issued, NewSessionRequest};

use accounts::hooks::{Method, Trigger};

use super::Error;
use super::hooks;
use super::mfa::{self, Outcome};
use crate::hooks::triggers::TokenCustom;
use crate::metrics::SignInMethod;
use crate::ratelimit::{self, ATTEMPTS_PER_IP};
use crate::siwe;
use crate::state::AppState;
use crate::tokens::{self, TokenSet};

/// Who is asking: the client's address (for the limits) and its `User-Agent` (kept with the
/// session it opens, so the account can tell its sessions apart).
#[derive(Clone, Debug)]
pub struct Caller {
    pub ip: String,
    pub user_agent: Option<String>,
    /// The hosted pages' device cookie (none from the API).
    pub device: Option<String>,
    /// The request's id (`X-Request-Id`), for the hooks' payloads.
    pub request_id: Option<String>,
    /// The client the request speaks for, where it is known: `direct` on the `/v1` API.
    pub client_id: Option<String>,
}

impl Caller {
    pub fn session_request(&self) -> NewSessionRequest {
        NewSessionRequest::from_agent(self.user_agent.as_deref())
    }

    /// The network the address belongs to, as a sign-in notice names it: its /24 (IPv4)
    /// or /48 (IPv6), in one canonical spelling; an address that does not parse, as it is.
    pub fn network(&self) -> String {
        use std::net::IpAddr;
        match self.ip.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(IpAddr::V4(v4)) => {
                let [a, b, c, _] = v4.octets();
                format!("{a}.{b}.{c}.0/24")
            }
            Ok(IpAddr::V6(v6)) => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
                format!("{net}/48")
            }
            Err(_) => self.ip.clone(),
        }
    }
}

/// After a sign-in completed: the pool's `post_authentication` hook is told (through the
/// outbox), and a pool that asks for it notes where it came from and tells the owner of a
/// new network or browser. Best effort once the session exists: a failure is logged, never
/// the sign-in's answer.
pub async fn note_origin(state: &AppState, pool: &PoolRecord, caller: &Caller, issued: &Issued) {
    super::hooks::post_authentication(state, pool, caller, &issued.account, &issued.session).await;
    if !pool.config.notify_new_sign_ins {
        return;
    }
    let origin = accounts::Origin {
        network: &caller.network(),
        device: caller.device.as_deref(),
        user_agent: caller.user_agent.as_deref(),
    };
    match state
        .users
        .note_sign_in_origin(pool, issued.account.sub, &origin, state.clock.now())
        .await
    {
        Ok((false, false)) => {}
        Ok(_) => state.mail.wake(),
        Err(e) => tracing::warn!(error = %e, "the origin of a sign-in could not be noted"),
    }
}

/// Signs the issued session's tokens, as the pool's `pre_token` hook (if any) shapes them.
pub async fn token_set(
    state: &AppState,
    pool: &PoolRecord,
    issued: &Issued,
    request_id: Option<&str>,
) -> Result<TokenSet, accounts::Error> {
    let scope = tokens::IssueOptions::direct(pool).scope;
    let custom = hooks::pre_token(
        state,
        pool,
        &issued.account,
        &issued.session,
        scope,
        hooks::TokenReason::SignIn,
        request_id,
    )
    .await;
    let custom = hooks::or_end_session(state, pool, issued, custom).await?;
    token_set_with(state, pool, issued, custom.as_ref()).await
}

/// Signs the issued session's tokens with a `pre_token` answer already had.
pub async fn token_set_with(
    state: &AppState,
    pool: &PoolRecord,
    issued: &Issued,
    custom: Option<&TokenCustom>,
) -> Result<TokenSet, accounts::Error> {
    let now = state.clock.now();
    let keys = state.keys.keys(pool.id, now).await?;
    let opt = tokens::IssueOptions::direct(pool);
    tokens::issue_with(
        &keys,
        &state.config.issuer(&pool.name),
        issued,
        &opt,
        custom,
        now,
    )
}

/// Rotates a refresh token of the direct API. The `pre_token` hook is asked before the
/// rotation commits, so a hook that fails leaves the presented token usable.
pub async fn refresh(
    state: &AppState,
    pool: &PoolRecord,
    token: &str,
    request_id: Option<&str>,
) -> Result<TokenSet, accounts::Error> {
    let custom = refresh_custom(state, pool, token, None, request_id).await?;
    let now = state.clock.now();
    let outcome = state.users.refresh(pool, token, None, now).await;
    let result = crate::metrics::SignInResult::of_account(&outcome);
    state
        .metrics
        .sign_in(&pool.name, SignInMethod::Refresh, result);
    token_set_with(state, pool, &outcome?, custom.as_ref()).await
}

/// The `pre_token` answer for the session a refresh token belongs to, asked before it
/// rotates; none when the pool has no such hook or the token is unknown (the rotation
/// then refuses it).
pub async fn refresh_custom(
    state: &AppState,
    pool: &PoolRecord,
    token: &str,
    client: Option<&str>,
    request_id: Option<&str>,
) -> Result<Option<TokenCustom>, accounts::Error> {
    if !state
        .hooks
        .configured(
            pool.id,
            accounts::hooks::Trigger::PreToken,
            state.clock.now(),
        )
        .await
    {
        return Ok(None);
    }
    let Some((account, session)) = state.users.peek_refresh(pool, token, client).await? else {
        return Ok(None);
    };
    let scope = match &session.scope {
        Some(s) => s.clone(),
        None => tokens::IssueOptions::direct(pool).scope.to_string(),
    };
    hooks::pre_token(
        state,
        pool,
        &account,
        &session,
        &scope,
        hooks::TokenReason::Refresh,
        request_id,
    )
    .await
}

/// Email and password, under the limits per client address, the lockout per (email,
/// address) and the cap per email: counted before the password is checked. Counted in the
/// metrics as a `password` sign-in.
pub async fn password(
    state: &AppState,
    pool: &PoolRecord,
    caller: &Caller,
    email: &str,
    password: &str,
) -> Result<Outcome, Error> {
    let outcome = check_password(state, pool, caller, email, password).await;
    super::counted(state, pool, SignInMethod::Password, outcome)
}

async fn check_password(
    state: &AppState,
    pool: &PoolRecord,
    caller: &Caller,
    email: &str,
    password: &str,
) -> Result<Outcome, Error> {
    let ip = caller.ip.as_str();
    ratelimit::hit(state, pool, ATTEMPTS_PER_IP, ip).await?;
    let attempt = ratelimit::reserve_sign_in(state, pool, email, ip).await?;
    let mut ctx = hooks::context(pool, caller, Method::Password);
    ctx.email = Some(
        accounts::Email::parse(email)
            .map_or_else(|_| email.to_string(), |e| e.as_str().to_string()),
    );
    let outcome = match hooks::pre_authentication(state, pool, &ctx).await {
        Ok(()) => {
            let migration = hooks::migration(state, pool, caller).await;
            state
                .users
                .sign_in_password(
                    pool,
                    email,
                    password,
                    &caller.session_request(),
                    migration
                        .as_ref()
                        .map(|m| m as &dyn accounts::UserMigration),
                    state.clock.now(),
                )
                .await
        }
        Err(e) => Err(e),
    };
    attempt.settle(state, &outcome).await;
    let outcome = mfa::settle(state, outcome?).await?;
    if let Outcome::Done(issued) = &outcome {
        note_origin(state, pool, caller, issued).await;
    }
    Ok(outcome)
}

/// A wallet's signed EIP-4361 message; a wallet's first sign-in creates its account.
/// Counted in the metrics as a `siwe` sign-in.
pub async fn wallet(
    state: &AppState,
    pool: &PoolRecord,
    caller: &Caller,
    message: &str,
    signature: &str,
) -> Result<Outcome, Error> {
    let outcome = check_wallet(state, pool, caller, message, signature).await;
    super::counted(state, pool, SignInMethod::Siwe, outcome)
}

async fn check_wallet(
    state: &AppState,
    pool: &PoolRecord,
    caller: &Caller,
    message: &str,
    signature: &str,
) -> Result<Outcome, Error> {
    let limit = (ATTEMPTS_PER_IP, caller.ip.as_str());
    let wallet = siwe::prove_counted(state, pool, limit, message, signature).await?;
    let mut ctx = hooks::context(pool, caller, Method::Siwe);
    ctx.wallet = Some(wallet.caip10.to_string());
    let now = state.clock.now();
    if state
        .hooks
        .has(pool.id, Trigger::PreSignUp, &ctx, now)
        .await
        && state.users.wallet_account(pool, &wallet).await?.is_none()
    {
        // A first sign-in creates the account: a sign-up. Auto-confirm changes nothing for
        // a wallet (it has no email to confirm).
        hooks::pre_sign_up(state, pool, &ctx, serde_json::json!({})).await?;
    }
    hooks::pre_authentication(state, pool, &ctx).await?;
    let signed_in = state
        .users
        .sign_in_wallet(pool, &wallet, &caller.session_request(), state.clock.now())
        .await?;
    let outcome = mfa::settle(state, signed_in).await?;
    if let Outcome::Done(issued) = &outcome {
        note_origin(state, pool, caller, issued).await;
    }
    Ok(outcome)
}
