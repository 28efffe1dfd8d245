//! The mixed workload through the balancer, and the invariants checked after it.

use anyhow::Result;
use base64::Engine as _;
use gatehouse_tests::siwe_key::SiweKey;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The operations, one in 20 of each request index: 8 SIWE sign-ins (nonce + sign-in), 6
/// refreshes, 3 token validations, 2 password sign-ins, 1 sign-up.
const KINDS: [&str; 5] = ["siwe", "refresh", "validate", "password", "signup"];

fn kind_of(i: usize) -> usize {
    match i % 20 {
        0..=7 => 0,
        8..=13 => 1,
        14..=16 => 2,
        17..=18 => 3,
        _ => 4,
    }
}

#[derive(Default)]
struct Stats {
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, usize>,
}

pub struct Load {
    api: String,
    authority: String,
    accounts: u64,
    http: reqwest::Client,
    keys: Vec<SiweKey>,
    next: AtomicUsize,
    stats: Mutex<Vec<Stats>>,
    refresh: Mutex<VecDeque<String>>,
    access: Mutex<VecDeque<String>>,
    /// Bodies of SIWE sign-ins that succeeded, to replay after the run.
    signed: Mutex<Vec<String>>,
    /// Session ids of the access tokens of successful sign-ins.
    sids: Mutex<Vec<String>>,
}

/// A simulated client's address (RFC 2544's benchmarking range).
fn client_addr(i: usize) -> String {
    format!("198.18.{}.{}", (i / 250) % 250, i % 250 + 1)
}

fn sid_of(access_token: &str) -> Option<String> {
    let payload = access_token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["sid"].as_str().map(str::to_string)
}

impl Load {
    pub fn new(lb_port: u16, accounts: u64) -> Self {
        Self {
            api: format!("http://127.0.0.1:{lb_port}/pools/main"),
            authority: format!("127.0.0.1:{lb_port}"),
            accounts,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(40))
                .build()
                .expect("client"),
            keys: (0..500).map(|_| SiweKey::new()).collect(),
            next: AtomicUsize::new(0),
            stats: Mutex::new((0..KINDS.len()).map(|_| Stats::default()).collect()),
            refresh: Mutex::default(),
            access: Mutex::default(),
            signed: Mutex::default(),
            sids: Mutex::default(),
        }
    }

    async fn post(&self, i: usize, path: &str, body: &Value) -> (u16, Value) {
        let sent = self
            .http
            .post(format!("{}{path}", self.api))
            .header("x-forwarded-for", client_addr(i))
            .json(body)
            .send()
            .await;
        match sent {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json().await.unwrap_or(Value::Null))
            }
            // No answer at all (the instance died with the request): 0.
            Err(_) => (0, Value::Null),
        }
    }

    fn signed_in(&self, body: &Value) {
        if let Some(t) = body["refresh_token"].as_str() {
            self.refresh.lock().unwrap().push_back(t.to_string());
        }
        if let Some(t) = body["access_token"].as_str() {
            if let Some(sid) = sid_of(t) {
                self.sids.lock().unwrap().push(sid);
            }
            let mut access = self.access.lock().unwrap();
            access.push_back(t.to_string());
            if access.len() > 1000 {
                access.pop_front();
            }
        }
    }

    /// One operation; its status (the last request's, for two-request operations).
    async fn one(&self, i: usize, kind: usize) -> u16 {
        match kind {
            0 => {
                let (status, body) = self.post(i, "/v1/siwe/nonce", &json!({})).await;
                if status != 200 {
                    return status;
                }
                let nonce = body["nonce"].as_str().unwrap_or_default();
                let signed = self.keys[i % self.keys.len()].sign_in_body(&self.authority, nonce);
                let (status, body) = self.post(i, "/v1/sessions/siwe", &signed).await;
                if status == 200 {
                    self.signed_in(&body);
                    self.signed.lock().unwrap().push(signed.to_string());
                }
                status
            }
            1 => {
                let token = self.refresh.lock().unwrap().pop_front();
                let Some(token) = token else {
                    return Box::pin(self.one(i, 0)).await;
                };
                let (status, body) = self
                    .post(
                        i,
                        "/v1/sessions/refresh",
                        &json!({ "refresh_token": token }),
                    )
                    .await;
                match body["refresh_token"].as_str() {
                    Some(next) if status == 200 => {
                        self.refresh.lock().unwrap().push_back(next.to_string())
                    }
                    // Not rotated (an outage): the token stands, for a later try.
                    _ if status != 400 => self.refresh.lock().unwrap().push_back(token),
                    _ => {}
                }
                status
            }
            2 => {
                let token = self.access.lock().unwrap().back().cloned();
                let Some(token) = token else {
                    return Box::pin(self.one(i, 0)).await;
                };
                match self
                    .http
                    .get(format!("{}/v1/me", self.api))
                    .bearer_auth(token)
                    .send()
                    .await
                {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                }
            }
            3 => {
                let email = crate::seed::email(i as u64 % self.accounts + 1);
                let (status, body) = self
                    .post(
                        i,
                        "/v1/sessions/password",
                        &json!({ "email": email, "password": crate::PASSWORD }),
                    )
                    .await;
                if status == 200 {
                    self.signed_in(&body);
                }
                status
            }
            _ => {
                let email = format!("new{i}-{}@scale.test", uuid::Uuid::new_v4().simple());
                self.post(
                    i,
                    "/v1/signup",
                    &json!({ "email": email, "password": crate::PASSWORD }),
                )
                .await
                .0
            }
        }
    }

    /// Drives `concurrency` clients for `duration`, at `rate` operations a second in all if
    /// given.
    pub async fn drive(&self, concurrency: usize, duration: Duration, rate: Option<f64>) -> &Self {
        let started = Instant::now();
        let worker = || async {
            loop {
                let i = self.next.fetch_add(1, Ordering::Relaxed);
                if let Some(r) = rate {
                    let due = Duration::from_secs_f64(i as f64 / r);
                    if due > duration {
                        break;
                    }
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        tokio::time::sleep(wait).await;
                    }
                }
                if started.elapsed() >= duration {
                    break;
                }
                let kind = kind_of(i);
                let t = Instant::now();
                let status = self.one(i, kind).await;
                let took = t.elapsed();
                let mut stats = self.stats.lock().unwrap();
                let s = &mut stats[kind];
                *s.statuses.entry(status).or_insert(0) += 1;
                if (200..300).contains(&status) {
                    s.latencies.push(took);
                }
            }
        };
        futures_util::future::join_all((0..concurrency).map(|_| worker())).await;
        self
    }

    /// Prints the table; the number of successful operations.
    pub fn print(&self, wall: Duration) -> usize {
        println!("| operation | ok | other answers | throughput | p50 | p99 |");
        println!("|---|---|---|---|---|---|");
        let mut total = 0;
        for (k, s) in self.stats.lock().unwrap().iter_mut().enumerate() {
            s.latencies.sort();
            let at = |q: f64| {
                s.latencies
                    .get(((s.latencies.len().max(1) - 1) as f64 * q).round() as usize)
                    .map_or(0.0, |d| d.as_secs_f64() * 1e3)
            };
            let ok = s.latencies.len();
            total += ok;
            let others: Vec<String> = s
                .statuses
                .iter()
                .filter(|(st, _)| !(200..300).contains(*st))
                .map(|(st, n)| format!("{st}: {n}"))
                .collect();
            println!(
                "| {} | {ok} | {} | {:.0}/s | {:.2} ms | {:.2} ms |",
                KINDS[k],
                if others.is_empty() {
                    "none".into()
                } else {
                    others.join(", ")
                },
                ok as f64 / wall.as_secs_f64(),
                at(0.5),
                at(0.99)
            );
        }
        total
    }

    fn ok(&self, kind: usize) -> usize {
        self.stats.lock().unwrap()[kind].latencies.len()
    }
}

/// Checks the invariants after a run; prints each and returns how many failed.
pub async fn check(load: &Load, database_url: &str, since: i64) -> Result<usize> {
    let db = sqlx::PgPool::connect(database_url).await?;
    let mut failed = 0;
    let mut verdict = |name: &str, ok: bool, detail: String| {
        println!(
            "invariant: {name}: {} ({detail})",
            if ok { "holds" } else { "VIOLATED" }
        );
        if !ok {
            failed += 1;
        }
    };
    let forked: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT session_id FROM refresh_token WHERE used_at IS NULL \
         GROUP BY session_id HAVING COUNT(*) > 1) f",
    )
    .fetch_one(&db)
    .await?;
    verdict(
        "no refresh family forked",
        forked == 0,
        format!("{forked} forked"),
    );

    let signed: Vec<String> = load.signed.lock().unwrap().clone();
    let mut accepted_again = 0;
    for (i, body) in signed.iter().enumerate().take(2000) {
        let v: Value = serde_json::from_str(body)?;
        if load.post(i, "/v1/sessions/siwe", &v).await.0 == 200 {
            accepted_again += 1;
        }
    }
    verdict(
        "no nonce accepted twice",
        accepted_again == 0,
        format!(
            "{} replayed, {accepted_again} accepted",
            signed.len().min(2000)
        ),
    );

    let sids: Vec<String> = load.sids.lock().unwrap().clone();
    let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM session WHERE id = ANY($1)")
        .bind(&sids)
        .fetch_one(&db)
        .await?;
    verdict(
        "every 2xx sign-in has its committed session",
        found == sids.len() as i64,
        format!("{found} of {} sessions found", sids.len()),
    );

    let bare: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM account a WHERE NOT EXISTS (SELECT 1 FROM email_credential e \
         WHERE e.account_id = a.id) AND NOT EXISTS (SELECT 1 FROM wallet_credential w WHERE \
         w.account_id = a.id) AND NOT EXISTS (SELECT 1 FROM federated_identity f WHERE \
         f.account_id = a.id)",
    )
    .fetch_one(&db)
    .await?;
    verdict(
        "no account without a credential",
        bare == 0,
        format!("{bare} without"),
    );

    let audited: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_event WHERE kind = 'sign_in' AND created_at >= $1",
    )
    .bind(since)
    .fetch_one(&db)
    .await?;
    let sign_ins = load.ok(0) + load.ok(3);
    verdict(
        "a sign_in audit row for every successful sign-in",
        audited >= sign_ins as i64,
        format!("{audited} rows, {sign_ins} sign-ins"),
    );
    Ok(failed)
}
