//! Mail delivery: a background worker drains the outbox with retries, through SMTP when
//! `GATEHOUSE_SMTP_URL` is set and to the log otherwise (a development transport). Several
//! instances may run workers on one database: rows are leased, never sent twice at once.
//! A mail is written out ([`compose`]) when it is sent: `multipart/alternative`, text and HTML.

mod compose;

use accounts::UserPool;
use accounts::mail::Sealed;
use accounts::store::{JOB_HOOK_EVENT, JOB_RECOVERY_REQUEST, PendingMail};
use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::hooks::{Context, Hooks, triggers};
use crate::metrics::{MailResult, Metrics};
pub use compose::{MailBody, compose};

/// Attempts before a mail is given up (with exponential back-off between them).
const MAX_ATTEMPTS: i32 = 8;
/// Seconds a claimed mail is leased to one worker.
const LEASE: i64 = 60;

#[async_trait]
pub trait Transport: Send + Sync {
    async fn send(&self, to: &str, body: &MailBody) -> Result<(), String>;
    fn name(&self) -> &'static str;
}

/// SMTP through lettre (`smtp://host:port`, `smtps://user:pass@host`, `?tls=required`).
pub struct SmtpTransport {
    inner: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpTransport {
    pub fn new(url: &str, from: &str) -> Result<Self, String> {
        let inner = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("GATEHOUSE_SMTP_URL is not valid: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = from
            .parse()
            .map_err(|e| format!("GATEHOUSE_SMTP_FROM is not valid: {e}"))?;
        Ok(Self { inner, from })
    }
}

#[async_trait]
impl Transport for SmtpTransport {
    async fn send(&self, to: &str, body: &MailBody) -> Result<(), String> {
        let to: Mailbox = to.parse().map_err(|e| format!("bad recipient: {e}"))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(body.subject.clone());
        let message = match &body.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                body.text.clone(),
                html.clone(),
            )),
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(body.text.clone()),
        }
        .map_err(|e| e.to_string())?;
        self.inner
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn name(&self) -> &'static str {
        "smtp"
    }
}

/// Writes mails to the log. For development only: codes appear in the log.
pub struct LogTransport;

#[async_trait]
impl Transport for LogTransport {
    async fn send(&self, to: &str, body: &MailBody) -> Result<(), String> {
        // One short line: the subject carries the code of a code mail. Development only:
        // codes reach the log (set GATEHOUSE_SMTP_URL).
        tracing::warn!("mail to {to}: {}", body.subject);
        Ok(())
    }

    fn name(&self) -> &'static str {
        "log"
    }
}

/// Wakes the worker when a request queued mail, so codes arrive without waiting for a poll.
#[derive(Clone, Default)]
pub struct MailSignal(Arc<Notify>);

impl MailSignal {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Runs until `shutdown` turns true; each attempt to send is counted in `metrics`.
#[allow(clippy::too_many_arguments)]
pub async fn run_worker(
    users: UserPool,
    hooks: Arc<Hooks>,
    transport: Arc<dyn Transport>,
    signal: MailSignal,
    metrics: Arc<Metrics>,
    clock: Clock,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    tracing::info!(transport = transport.name(), "mail worker started");
    loop {
        let sent = match deliver_due(&users, &hooks, transport.as_ref(), &clock, &metrics).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "mail outbox unavailable");
                0
            }
        };
        if sent > 0 {
            continue;
        }
        tokio::select! {
            _ = signal.0.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
    }
    tracing::info!("mail worker stopped");
}

/// Sends what is due; returns how many mails were claimed.
async fn deliver_due(
    users: &UserPool,
    hooks: &Hooks,
    transport: &dyn Transport,
    clock: &Clock,
    metrics: &Metrics,
) -> Result<usize, accounts::Error> {
    let store = users.store();
    let due = store
        .claim_mail(clock.now(), LEASE, 1, MAX_ATTEMPTS)
        .await?;
    for mail in &due {
        if mail.kind == JOB_RECOVERY_REQUEST {
            // A queued recovery request: its code mail is written now and sent next round.
            if let Err(e) = recovery(users, hooks, clock, mail).await {
                let backoff = 5i64 << mail.attempts.clamp(0, 12);
                tracing::warn!(job = %mail.id, error = %e, "recovery request not done");
                store
                    .mark_mail_failed(mail.id, &e.to_string(), clock.now() + backoff, MAX_ATTEMPTS)
                    .await?;
            }
            continue;
        }
        if mail.kind == JOB_HOOK_EVENT {
            // A hook notification: its own retries, on the mails' schedule.
            match hooks.deliver(mail, clock.now()).await {
                Ok(()) => store.mark_mail_sent(mail.id, clock.now()).await?,
                Err(e) => {
                    let backoff = 5i64 << mail.attempts.clamp(0, 12);
                    tracing::warn!(job = %mail.id, attempt = mail.attempts, error = %e, "hook notification not delivered");
                    store
                        .mark_mail_failed(mail.id, &e, clock.now() + backoff, MAX_ATTEMPTS)
                        .await?;
                }
            }
            continue;
        }
        let outcome = match users.open_mail(&mail.body_sealed) {
            Ok(sealed) => match written(users, hooks, mail, sealed, clock.now()).await {
                Ok(body) => transport.send(&mail.recipient, &body).await,
                Err(e) => Err(e),
            },
            Err(_) => Err("mail body cannot be opened with this master key".to_string()),
        };
        match outcome {
            Ok(()) => {
                tracing::info!(mail = %mail.id, kind = %mail.kind, "mail sent");
                metrics.mail_attempt(MailResult::Sent);
                store.mark_mail_sent(mail.id, clock.now()).await?;
            }
            Err(e) => {
                // `attempts` counts this one: past the last, the store gives the mail up.
                metrics.mail_attempt(if mail.attempts >= MAX_ATTEMPTS {
                    MailResult::GivenUp
                } else {
                    MailResult::Retry
                });
                let backoff = 5i64 << mail.attempts.clamp(0, 12);
                tracing::warn!(mail = %mail.id, kind = %mail.kind, attempt = mail.attempts, error = %e, "mail not sent");
                store
                    .mark_mail_failed(mail.id, &e, clock.now() + backoff, MAX_ATTEMPTS)
                    .await?;
            }
        }
    }
    Ok(due.len())
}

/// The mail's words: the pool's `custom_message` hook's when it has one that answers, the
/// templates' otherwise (or, under `fail_closed`, an error that leaves the mail for a retry).
/// The hook never sees a code or a link: it writes placeholders the gateway fills.
async fn written(
    users: &UserPool,
    hooks: &Hooks,
    mail: &PendingMail,
    sealed: Sealed,
    now: i64,
) -> Result<MailBody, String> {
    let Sealed::Letter {
        pool_name,
        mail: letter,
    } = &sealed
    else {
        return compose(sealed).map_err(|e| format!("mail could not be written out: {e}"));
    };
    let ctx = Context::default();
    let trigger = accounts::hooks::Trigger::CustomMessage;
    if !hooks.has(mail.pool_id, trigger, &ctx, now).await {
        return compose(sealed).map_err(|e| format!("mail could not be written out: {e}"));
    }
    let Some(pool) = users
        .store()
        .find_pool(mail.pool_id)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Err("the mail's pool is gone".into());
    };
    let (facts, secrets) = triggers::mail_facts(letter);
    let ctx = Context {
        pool: pool.name.clone(),
        email: Some(mail.recipient.clone()),
        ..Context::default()
    };
    let data = serde_json::json!({
        "mail": letter.kind(),
        "pool_display_name": pool_name,
        "facts": facts,
        "placeholders": secrets.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
    });
    let answer = hooks
        .ask(&pool, trigger, &ctx, data, now, |v| {
            triggers::message_for(v, &secrets)
        })
        .await
        .map_err(|e| format!("custom message: {e}"))?;
    match answer.flatten() {
        Some(m) => Ok(MailBody {
            subject: m.subject,
            text: m.text,
            html: m.html,
        }),
        None => compose(sealed).map_err(|e| format!("mail could not be written out: {e}")),
    }
}

/// Fulfils a queued recovery request; an address with no account is first looked up in
/// the old system when the pool has a `user_migration` hook for recoveries.
async fn recovery(
    users: &UserPool,
    hooks: &Hooks,
    clock: &Clock,
    job: &PendingMail,
) -> Result<(), accounts::Error> {
    let trigger = accounts::hooks::Trigger::UserMigration;
    let now = clock.now();
    let probe = Context {
        method: Some(accounts::hooks::Method::Recovery),
        ..Context::default()
    };
    if !hooks.has(job.pool_id, trigger, &probe, now).await {
        return users.fulfil_recovery_request(job, None, now).await;
    }
    let pool = users
        .store()
        .find_pool(job.pool_id)
        .await?
        .ok_or(accounts::Error::PoolNotFound)?;
    let ctx = Context {
        pool: pool.name.clone(),
        ..probe
    };
    let migration = crate::hooks::Migration::with(hooks, clock, &pool, ctx).await;
    let old = migration
        .as_ref()
        .map(|m| m as &dyn accounts::UserMigration);
    users.fulfil_recovery_request(job, old, now).await
}
