//! The trigger points of the flows (DESIGN, Hooks): what each sign-up, sign-in and token
//! issue tells the pool's hooks, and what their answers do. Every call is skipped at the
//! cost of a cache read when the pool has no hook for that trigger, client and method.

use accounts::hooks::{Method, Trigger};
use accounts::store::{PoolRecord, SessionRecord};
use accounts::{AccountView, Error, Issued};
use serde_json::{Value, json};

use super::sign_in::Caller;
use crate::hooks::triggers::{self, SignUp, TokenCustom};
use crate::hooks::{Context, Migration};
use crate::state::AppState;
use crate::tokens::DIRECT_CLIENT;

/// The context of an event a caller caused.
pub fn context(pool: &PoolRecord, caller: &Caller, method: Method) -> Context {
    Context {
        pool: pool.name.clone(),
        client_id: caller.client_id.clone(),
        method: Some(method),
        request_id: caller.request_id.clone(),
        ..Context::default()
    }
}

/// `pre_sign_up`: before an account is created; `data` holds what the sign-up brings (the
/// attributes given, the upstream identity). A denial is [`Error::SignUpDenied`] with the
/// hook's message (or the pool's words).
pub async fn pre_sign_up(
    state: &AppState,
    pool: &PoolRecord,
    ctx: &Context,
    data: Value,
) -> Result<SignUp, Error> {
    let now = state.clock.now();
    let answer = state
        .hooks
        .ask(pool, Trigger::PreSignUp, ctx, data, now, triggers::sign_up)
        .await?;
    match answer.unwrap_or(SignUp::Allow) {
        SignUp::Deny(message) => {
            state.hooks.denied(Trigger::PreSignUp);
            let words = crate::words::words().error.sign_up_denied;
            Err(Error::SignUpDenied(
                message.unwrap_or_else(|| words.to_string()),
            ))
        }
        other => Ok(other),
    }
}

/// `pre_authentication`: before a credential counts. A denial is [`Error::SignInDenied`].
pub async fn pre_authentication(
    state: &AppState,
    pool: &PoolRecord,
    ctx: &Context,
) -> Result<(), Error> {
    let now = state.clock.now();
    let answer = state
        .hooks
        .ask(
            pool,
            Trigger::PreAuthentication,
            ctx,
            json!({}),
            now,
            triggers::authentication,
        )
        .await?;
    match answer.flatten() {
        None => Ok(()),
        Some(message) => {
            state.hooks.denied(Trigger::PreAuthentication);
            let words = crate::words::words().error.invalid_credentials;
            Err(Error::SignInDenied(
                message.unwrap_or_else(|| words.to_string()),
            ))
        }
    }
}

/// `post_authentication`: a sign-in completed (queued; never awaited).
pub async fn post_authentication(
    state: &AppState,
    pool: &PoolRecord,
    caller: &Caller,
    account: &AccountView,
    session: &SessionRecord,
) {
    let Some(method) = Method::of_amr(&session.amr) else {
        return;
    };
    let mut ctx = context(pool, caller, method);
    ctx.client_id = Some(
        session
            .client_id
            .clone()
            .unwrap_or_else(|| DIRECT_CLIENT.into()),
    );
    describe(&mut ctx, account, session);
    let data = json!({ "session": session.id.to_string(), "amr": session.methods() });
    let now = state.clock.now();
    if state
        .hooks
        .notify(pool, Trigger::PostAuthentication, &ctx, data, now)
        .await
    {
        state.mail.wake();
    }
}

/// `post_confirmation`: an email was confirmed (queued; never awaited).
pub async fn post_confirmation(state: &AppState, pool: &PoolRecord, ctx: Context, auto: bool) {
    let now = state.clock.now();
    let data = json!({ "auto_confirmed": auto });
    if state
        .hooks
        .notify(pool, Trigger::PostConfirmation, &ctx, data, now)
        .await
    {
        state.mail.wake();
    }
}

/// The account's side of an event: its `sub`, email, and the wallet or IdP of the session.
fn describe(ctx: &mut Context, account: &AccountView, session: &SessionRecord) {
    ctx.sub = Some(account.sub.to_string());
    ctx.email.clone_from(&account.email);
    ctx.wallet = session.wallet.as_ref().map(ToString::to_string);
    ctx.idp = session.idp().map(str::to_string);
}

/// Why tokens are being issued, as `pre_token` is told.
#[derive(Clone, Copy, Debug)]
pub enum TokenReason {
    SignIn,
    Refresh,
    /// An authorization code redeemed at the token endpoint.
    Code,
}

impl TokenReason {
    fn as_str(self) -> &'static str {
        match self {
            TokenReason::SignIn => "sign_in",
            TokenReason::Refresh => "refresh",
            TokenReason::Code => "authorization_code",
        }
    }
}

/// `pre_token`: claims and groups for the tokens about to be signed for `account` in
/// `session`. A protected claim in the answer fails the issue whatever the policy.
pub async fn pre_token(
    state: &AppState,
    pool: &PoolRecord,
    account: &AccountView,
    session: &SessionRecord,
    scope: &str,
    reason: TokenReason,
    request_id: Option<&str>,
) -> Result<Option<TokenCustom>, Error> {
    let now = state.clock.now();
    let mut ctx = Context {
        pool: pool.name.clone(),
        client_id: Some(
            session
                .client_id
                .clone()
                .unwrap_or_else(|| DIRECT_CLIENT.into()),
        ),
        method: Method::of_amr(&session.amr),
        request_id: request_id.map(str::to_string),
        ..Context::default()
    };
    if !state.hooks.has(pool.id, Trigger::PreToken, &ctx, now).await {
        return Ok(None);
    }
    describe(&mut ctx, account, session);
    let data = json!({
        "reason": reason.as_str(),
        "scope": scope,
        "amr": session.methods(),
        "groups": account.groups,
        "wallets": account.wallets.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "email_verified": account.email_verified,
        "attributes": account.attributes,
    });
    state
        .hooks
        .ask(pool, Trigger::PreToken, &ctx, data, now, triggers::token)
        .await
}

/// A `pre_token` answer, or its failure after the session it was for is ended: the
/// session was opened, but its tokens never leave, and no live session lacks its tokens.
pub async fn or_end_session(
    state: &AppState,
    pool: &PoolRecord,
    issued: &Issued,
    custom: Result<Option<TokenCustom>, Error>,
) -> Result<Option<TokenCustom>, Error> {
    if custom.is_err() {
        let now = state.clock.now();
        if let Err(end) = state
            .users
            .end_session_tree(pool, issued.session.id, "hook_failed", now)
            .await
        {
            tracing::warn!(error = %end, "a session whose tokens a hook refused was not ended");
        }
    }
    custom
}

/// The pool's `user_migration` hook, when it has one for this password sign-in.
pub async fn migration<'a>(
    state: &'a AppState,
    pool: &'a PoolRecord,
    caller: &Caller,
) -> Option<Migration<'a>> {
    let ctx = context(pool, caller, Method::Password);
    Migration::with(&state.hooks, &state.clock, pool, ctx).await
}
