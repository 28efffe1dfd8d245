//! Calling a pool's hooks (DESIGN, Hooks): Standard Webhooks
//! (<https://www.standardwebhooks.com/>) POSTs signed with HMAC-SHA256, each with its own
//! timeout, through the gateway's one outbound client (TLS verified, no redirect followed),
//! answers over 64 KiB refused. A synchronous trigger's failure follows the hook's policy
//! and is audited; notifications (`post_*`) go through the outbox and are retried with the
//! same `webhook-id`. What each trigger sends and accepts is in [`triggers`].

mod migration;
mod sign;
pub mod triggers;

pub use migration::Migration;

use accounts::hooks::{FailurePolicy, Method, Trigger};
use accounts::store::{AuditEvent, JOB_HOOK_EVENT, OutboxMail, PendingMail, PoolRecord};
use accounts::{AccountId, ActiveHook, Error, PoolId, UserPool};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::metrics::Metrics;

/// The most a hook's answer may hold.
pub const ANSWER_MAX: usize = 64 * 1024;
/// How long a pool's hooks are trusted before they are read again (a change made on this
/// instance is seen at once; on others within this).
const CACHE_SECONDS: i64 = 30;

/// Who and what an event is about: the fields every payload carries (DESIGN: the sign-in
/// method, the wallet or IdP, the pool, the client, and here a request id).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Context {
    pub pool: String,
    pub client_id: Option<String>,
    pub method: Option<Method>,
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The wallet (CAIP-10) of a wallet sign-in or sign-up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet: Option<String>,
    /// The IdP (its name in the pool) of a federated sign-in or sign-up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
}

/// Why a call did not give an answer the trigger can use.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("timed out")]
    Timeout,
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("answered more than 64 KiB")]
    TooLarge,
    #[error("answered something other than JSON")]
    NotJson,
    #[error("could not be reached: {0}")]
    Transport(String),
    /// The answer is JSON but not one the trigger allows.
    #[error("answered what the trigger does not allow: {0}")]
    Refused(String),
    /// The answer tried to change what must never change (a protected claim): the request
    /// fails whatever the policy.
    #[error("answered what may never be changed: {0}")]
    Forbidden(String),
}

impl Failure {
    fn metric(&self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::Refused(_) | Failure::Forbidden(_) => "refused",
            _ => "error",
        }
    }
}

/// A notification waiting in the outbox: the hook it is for and the exact call, so a retry
/// signs the same id and body again (with a fresh timestamp).
#[derive(Serialize, Deserialize)]
struct Queued {
    id: String,
    trigger: Trigger,
    body: String,
}

/// A pool's hooks as read, and when.
type Cached = (Arc<Vec<ActiveHook>>, i64);

/// The pool's hooks, cached, and the client that calls them.
pub struct Hooks {
    client: reqwest::Client,
    users: UserPool,
    metrics: Arc<Metrics>,
    cache: RwLock<HashMap<PoolId, Cached>>,
}

impl Hooks {
    pub fn new(users: UserPool, metrics: Arc<Metrics>) -> Result<Self, String> {
        // Each call sets its hook's own timeout; this is the most any may take.
        let client = crate::outbound::client(
            "hooks",
            Duration::from_millis(accounts::hooks::TIMEOUT_MAX_MS),
        )?;
        Ok(Self {
            client,
            users,
            metrics,
            cache: RwLock::new(HashMap::new()),
        })
    }

    /// Drops the cached hooks of `pool` after a change made here.
    pub fn forget(&self, pool: PoolId) {
        if let Ok(mut map) = self.cache.write() {
            map.remove(&pool);
        }
    }

    async fn of_pool(&self, pool: PoolId, now: i64) -> Result<Arc<Vec<ActiveHook>>, Error> {
        if let Ok(map) = self.cache.read()
            && let Some((hooks, at)) = map.get(&pool)
            && now < at + CACHE_SECONDS
        {
            return Ok(hooks.clone());
        }
        let hooks = Arc::new(self.users.active_hooks(pool).await?);
        if let Ok(mut map) = self.cache.write() {
            map.insert(pool, (hooks.clone(), now));
        }
        Ok(hooks)
    }

    /// The pool's hook for `trigger`, when it applies to this client and method.
    pub async fn find(
        &self,
        pool: PoolId,
        trigger: Trigger,
        ctx: &Context,
        now: i64,
    ) -> Result<Option<ActiveHook>, Error> {
        let hooks = self.of_pool(pool, now).await?;
        Ok(hooks
            .iter()
            .find(|h| {
                h.config.trigger == trigger
                    && h.config.applies(ctx.client_id.as_deref(), ctx.method)
            })
            .cloned())
    }

    /// Whether the pool has an enabled hook for `trigger`, whatever it applies to.
    pub async fn configured(&self, pool: PoolId, trigger: Trigger, now: i64) -> bool {
        match self.of_pool(pool, now).await {
            Ok(hooks) => hooks
                .iter()
                .any(|h| h.config.trigger == trigger && h.config.enabled),
            // The call that follows reads the store again and reports its failure.
            Err(_) => true,
        }
    }

    /// Whether the pool has a hook for `trigger` that applies to `ctx` (a cache read). When
    /// the hooks cannot be read, yes: the call that follows reads them again and fails
    /// with the store, rather than skip a hook that may be there.
    pub async fn has(&self, pool: PoolId, trigger: Trigger, ctx: &Context, now: i64) -> bool {
        !matches!(self.find(pool, trigger, ctx, now).await, Ok(None))
    }

    /// One signed POST of `body` to `hook`; its answer's JSON (`null` for an empty body).
    async fn post(
        &self,
        hook: &ActiveHook,
        id: &str,
        body: &str,
        now: i64,
    ) -> Result<Value, Failure> {
        let signature = sign::signature(&hook.secrets.signing(now), id, now, body);
        let sent = self
            .client
            .post(&hook.config.url)
            .timeout(Duration::from_millis(hook.config.timeout_ms))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature)
            .body(body.to_string())
            .send()
            .await;
        let res = sent.map_err(transport)?;
        if !res.status().is_success() {
            return Err(Failure::Status(res.status().as_u16()));
        }
        let answer = crate::outbound::read_bounded(res, ANSWER_MAX)
            .await
            .map_err(|e| match e {
                crate::outbound::ReadError::TooLarge => Failure::TooLarge,
                crate::outbound::ReadError::Transport(e) => transport(e),
            })?;
        if answer.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&answer).map_err(|_| Failure::NotJson)
    }

    /// Calls the pool's hook for `trigger` (when one applies) with `data` and the context,
    /// and reads its answer with `parse`. `Ok(None)`: no hook applies, or it failed under
    /// `fail_open`. A failure is counted, logged and audited; under `fail_closed` (or when
    /// the answer touched what may never change) the request fails with
    /// [`Error::HookFailed`].
    pub async fn ask<T>(
        &self,
        pool: &PoolRecord,
        trigger: Trigger,
        ctx: &Context,
        data: Value,
        now: i64,
        parse: impl FnOnce(Value) -> Result<T, Failure>,
    ) -> Result<Option<T>, Error> {
        let Some(hook) = self.find(pool.id, trigger, ctx, now).await? else {
            return Ok(None);
        };
        let body = envelope(trigger, ctx, data, now);
        let id = message_id();
        let started = Instant::now();
        let outcome = self.post(&hook, &id, &body, now).await.and_then(parse);
        let took = started.elapsed();
        match outcome {
            Ok(answer) => {
                self.metrics.hook_call(trigger.as_str(), "ok", took);
                Ok(Some(answer))
            }
            Err(failure) => {
                self.metrics
                    .hook_call(trigger.as_str(), failure.metric(), took);
                let closed = hook.config.policy() == FailurePolicy::FailClosed
                    || matches!(failure, Failure::Forbidden(_));
                self.failed(pool.id, &hook, &id, &failure, closed, ctx, now)
                    .await?;
                if closed {
                    Err(Error::HookFailed)
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// Counts a denial (the hook answered, and said no).
    pub fn denied(&self, trigger: Trigger) {
        self.metrics
            .hook_call(trigger.as_str(), "denied", Duration::ZERO);
    }

    /// Logs and audits a failed call.
    #[allow(clippy::too_many_arguments)]
    async fn failed(
        &self,
        pool: PoolId,
        hook: &ActiveHook,
        id: &str,
        failure: &Failure,
        closed: bool,
        ctx: &Context,
        now: i64,
    ) -> Result<(), Error> {
        let trigger = hook.config.trigger.as_str();
        tracing::warn!(hook = %hook.name, trigger, webhook_id = id, error = %failure, fail_closed = closed, "hook call failed");
        let account = ctx.sub.as_deref().and_then(AccountId::parse);
        let audit = AuditEvent {
            pool_id: pool,
            account_id: account,
            kind: "hook_failed",
            detail: json!({
                "hook": hook.name,
                "trigger": trigger,
                "webhook_id": id,
                "error": failure.to_string(),
                "policy": if closed { "fail_closed" } else { "fail_open" },
            }),
            created_at: now,
        };
        self.users.store().record(&audit, None).await
    }

    /// Queues a notification (`post_*`) for the pool's hook, when one applies: the outbox
    /// delivers it with retries, never this request. A failure to queue is logged, never
    /// the request's answer (the change it tells of is already committed).
    pub async fn notify(
        &self,
        pool: &PoolRecord,
        trigger: Trigger,
        ctx: &Context,
        data: Value,
        now: i64,
    ) -> bool {
        let hook = match self.find(pool.id, trigger, ctx, now).await {
            Ok(Some(h)) => h,
            Ok(None) => return false,
            Err(e) => {
                tracing::error!(error = %e, trigger = trigger.as_str(), "hook notification not queued");
                return false;
            }
        };
        let queued = Queued {
            id: message_id(),
            trigger,
            body: envelope(trigger, ctx, data, now),
        };
        let row = serde_json::to_vec(&queued)
            .map_err(|_| Error::Crypto)
            .and_then(|plain| self.users.seal_hook_event(&plain))
            .map(|body_sealed| OutboxMail {
                id: uuid::Uuid::new_v4(),
                pool_id: pool.id,
                recipient: hook.name.clone(),
                kind: JOB_HOOK_EVENT,
                body_sealed,
                created_at: now,
            });
        match row {
            Ok(row) => match self.users.store().enqueue(&row).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(error = %e, hook = %hook.name, "hook notification not queued");
                    false
                }
            },
            Err(e) => {
                tracing::error!(error = %e, hook = %hook.name, "hook notification not sealed");
                false
            }
        }
    }

    /// Delivers one queued notification (the outbox worker's job). `Err` leaves it for a
    /// retry; a hook removed or changed to another trigger meanwhile drops it.
    pub async fn deliver(&self, job: &PendingMail, now: i64) -> Result<(), String> {
        let plain = self
            .users
            .open_hook_event(&job.body_sealed)
            .map_err(|_| "the notification cannot be opened with this master key".to_string())?;
        let queued: Queued = serde_json::from_slice(&plain)
            .map_err(|_| "the notification is not readable".to_string())?;
        let wanted = |h: &&ActiveHook| {
            h.name == job.recipient && h.config.trigger == queued.trigger && h.config.enabled
        };
        let mut hooks = self
            .of_pool(job.pool_id, now)
            .await
            .map_err(|e| e.to_string())?;
        if !hooks.iter().any(|h| wanted(&h)) {
            // This instance's cache may predate the hook (made on another instance less than
            // CACHE_SECONDS ago): read again before dropping anything.
            self.forget(job.pool_id);
            hooks = self
                .of_pool(job.pool_id, now)
                .await
                .map_err(|e| e.to_string())?;
        }
        let Some(hook) = hooks.iter().find(wanted) else {
            tracing::info!(hook = %job.recipient, "hook gone: its notification is dropped");
            return Ok(());
        };
        let started = Instant::now();
        let outcome = self.post(hook, &queued.id, &queued.body, now).await;
        let took = started.elapsed();
        match outcome {
            Ok(_) => {
                self.metrics.hook_call(queued.trigger.as_str(), "ok", took);
                Ok(())
            }
            Err(f) => {
                self.metrics
                    .hook_call(queued.trigger.as_str(), f.metric(), took);
                Err(format!("hook {}: {f}", hook.name))
            }
        }
    }
}

/// The body every call sends: `{type, timestamp, data}` (Standard Webhooks' payload
/// structure), `data` holding the context's fields and the trigger's own.
fn envelope(trigger: Trigger, ctx: &Context, data: Value, now: i64) -> String {
    let mut fields = match serde_json::to_value(ctx) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    if let Value::Object(own) = data {
        fields.extend(own);
    }
    let timestamp = time::OffsetDateTime::from_unix_timestamp(now)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    json!({ "type": trigger.as_str(), "timestamp": timestamp, "data": fields }).to_string()
}

/// A fresh `webhook-id`.
fn message_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

/// A failed transfer: a timeout, or the transport's words without the URL.
fn transport(e: reqwest::Error) -> Failure {
    if e.is_timeout() {
        Failure::Timeout
    } else {
        Failure::Transport(crate::outbound::describe(e))
    }
}
