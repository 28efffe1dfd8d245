//! Hooks: a real receiver on loopback (`tests/clients/hook-receiver.mjs`) checks every
//! call's Standard Webhooks signature with the `standardwebhooks` npm library and every
//! payload (and scripted answer) against its JSON Schema in `docs/hooks/`, and answers what
//! each test scripts. Each trigger point, the failure policies (timeouts, 500s, nonsense),
//! the outbox's retries and a second instance; every test asserts what the database holds.

use gatehouse_tests::{Gateway, World};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

use crate::oauth::ADMIN;

mod admin;
mod federated;
mod migration;
mod notifications;
mod triggers;

pub fn all() -> Vec<(&'static str, crate::TestFnPub)> {
    let mut all = admin::all();
    all.extend(triggers::all());
    all.extend(federated::all());
    all.extend(migration::all());
    all.extend(notifications::all());
    all
}

pub(crate) const PW: &str = "correct horse battery";

/// The receiver, running until dropped.
pub(crate) struct Receiver {
    _child: tokio::process::Child,
    url: String,
    http: reqwest::Client,
}

impl Receiver {
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let dir = gatehouse_tests::clients_dir()?;
        let mut cmd = tokio::process::Command::new("node");
        cmd.arg(dir.join("hook-receiver.mjs"))
            .current_dir(&dir)
            .stderr(std::process::Stdio::null());
        let (child, line) = gatehouse_tests::spawn_listening(cmd).await?;
        let info: Value = serde_json::from_str(&line)?;
        Ok(Receiver {
            _child: child,
            url: info["url"].as_str().unwrap_or_default().to_string(),
            http: reqwest::Client::new(),
        })
    }

    pub(crate) fn hook_url(&self, name: &str) -> String {
        format!("{}/hooks/{name}", self.url)
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<()> {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
        Ok(())
    }

    /// The secrets the receiver accepts for hook `name`.
    pub(crate) async fn accept(&self, name: &str, secrets: &[&str]) -> anyhow::Result<()> {
        self.post("/test/secret", json!({ "name": name, "secrets": secrets }))
            .await
    }

    /// The next answers of hook `name` (the last repeats).
    pub(crate) async fn script(&self, name: &str, answers: Value) -> anyhow::Result<()> {
        self.post("/test/script", json!({ "name": name, "answers": answers }))
            .await
    }

    /// Every call hook `name` received, each checked: its signature verified by the library
    /// and its payload and scripted answer valid against their schemas.
    pub(crate) async fn calls(&self, name: &str) -> anyhow::Result<Vec<Value>> {
        let calls: Vec<Value> = self
            .http
            .get(format!("{}/test/calls?name={name}", self.url))
            .send()
            .await?
            .json()
            .await?;
        Ok(calls)
    }

    /// The calls of `name`, each verified and schema-valid (asserted).
    pub(crate) async fn checked_calls(&self, name: &str) -> anyhow::Result<Vec<Value>> {
        let calls = self.calls(name).await?;
        for c in &calls {
            assert_eq!(c["verified"], true, "signature of {c}");
            assert_eq!(c["schema_errors"], json!([]), "payload schema of {c}");
            assert_eq!(c["answer_schema_errors"], json!([]), "answer schema of {c}");
        }
        Ok(calls)
    }

    /// Waits (bounded) until hook `name` received `n` calls.
    pub(crate) async fn wait_calls(
        &self,
        name: &str,
        n: usize,
        within: Duration,
    ) -> anyhow::Result<Vec<Value>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let calls = self.calls(name).await?;
            if calls.len() >= n {
                return Ok(calls);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{name}: {} calls of {n} after {within:?}",
                calls.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A gateway with the admin API on.
pub(crate) async fn gateway(w: &World) -> anyhow::Result<Gateway> {
    w.start_with(|c| {
        c.admin_token = Some(accounts::secret::Secret::new(ADMIN));
    })
    .await
}

pub(crate) async fn admin(
    gw: &Gateway,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<gatehouse_tests::Answer> {
    gw.call(
        method,
        &format!("//admin/v1/pools/main/hooks{path}"),
        body,
        Some(ADMIN),
    )
    .await
}

/// Adds hook `name` for `trigger` at the receiver (with `extra` settings) and tells the
/// receiver its secret; the secret.
pub(crate) async fn add_hook(
    gw: &Gateway,
    rx: &Receiver,
    name: &str,
    trigger: &str,
    extra: Value,
) -> anyhow::Result<String> {
    let mut body = json!({ "name": name, "trigger": trigger, "url": rx.hook_url(name) });
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    let r = admin(gw, Method::POST, "", Some(body)).await?;
    anyhow::ensure!(r.status == StatusCode::CREATED, "add hook: {r:?}");
    let secret = r.str("secret");
    rx.accept(name, &[&secret]).await?;
    Ok(secret)
}

/// Signs in with a password; the answer.
pub(crate) async fn password_sign_in(
    gw: &Gateway,
    email: &str,
    password: &str,
) -> anyhow::Result<gatehouse_tests::Answer> {
    gw.post(
        "/v1/sessions/password",
        json!({ "email": email, "password": password }),
    )
    .await
}

/// The count of rows `sql` (a `SELECT COUNT(*) …` with `$1`) finds for `arg`.
pub(crate) async fn count(w: &World, sql: &str, arg: &str) -> anyhow::Result<i64> {
    use sqlx::Row;
    let db = w.db().await?;
    Ok(sqlx::query(sql).bind(arg).fetch_one(&db).await?.get(0))
}

/// The details of the pool's `hook_failed` audit rows, oldest first.
pub(crate) async fn hook_failures(w: &World) -> anyhow::Result<Vec<Value>> {
    use sqlx::Row;
    let db = w.db().await?;
    let rows = sqlx::query(
        "SELECT detail FROM audit_event WHERE kind = 'hook_failed' ORDER BY created_at, id",
    )
    .fetch_all(&db)
    .await?;
    Ok(rows
        .iter()
        .map(|r| serde_json::from_str(&r.get::<String, _>(0)).unwrap_or(Value::Null))
        .collect())
}
