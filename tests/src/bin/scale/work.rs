//! The mixed workload through the balancer, and the invariants checked after it.

use anyhow::Result;
use base64::Engine as _;
use gatehouse_tests::siwe_key::SiweKey;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The operations, by request index, out of every 20: 7 SIWE sign-ins (nonce + sign-in), 5
/// refreshes, 3 token validations, 2 password sign-ins, 1 sign-up and 2 OAuth code flows
/// (an authorization request in a signed-in browser session, then the code's exchange by a
/// confidential client).
const KINDS: [&str; 6] = [
    "siwe",
    "refresh",
    "validate",
    "password",
    "signup",
    "oauth code",
];

fn kind_of(i: usize) -> usize {
    match i % 20 {
        0..=6 => 0,
        7..=11 => 1,
        12..=14 => 2,
        15..=16 => 3,
        17 => 4,
        _ => 5,
    }
}

/// A confidential client and a browser session signed in at the hosted login page.
pub struct OAuthApp {
    pub client_id: String,
    pub secret: String,
    pub authorize: String,
    pub cookie: String,
}

pub const CALLBACK: &str = "https://app.scale.test/callback";
const VERIFIER: &str = "scale-harness-verifier-0123456789-0123456789-abcdefghijk";

impl OAuthApp {
    /// Registers the client with the admin API and signs a seeded account in.
    pub async fn new(lb: &str, admin: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let app: Value = http
            .post(format!("{lb}/admin/v1/pools/main/clients"))
            .bearer_auth(admin)
            .json(&json!({ "name": "Scale", "public": false, "redirect_uris": [CALLBACK] }))
            .send()
            .await?
            .json()
            .await?;
        let client_id = app["client_id"].as_str().unwrap_or_default().to_string();
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, VERIFIER.as_bytes()),
        );
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", &client_id),
                ("redirect_uri", CALLBACK),
                ("scope", "openid email"),
                ("state", "s"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .finish();
        let api = format!("{lb}/pools/main");
        let authorize = format!("{api}/oauth2/authorize?{query}");
        let cookie = crate::drive::browser_session(
            &http,
            lb,
            &api,
            &authorize,
            &crate::seed::email(1),
            crate::PASSWORD,
        )
        .await?;
        Ok(Self {
            client_id,
            secret: app["client_secret"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            authorize,
            cookie,
        })
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
    oauth: OAuthApp,
    /// Follows no redirect: the authorization request's answer is one.
    browser: reqwest::Client,
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
    pub fn new(lb_port: u16, accounts: u64, oauth: OAuthApp) -> Self {
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
            oauth,
            browser: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(40))
                .build()
                .expect("client"),
        }
    }

    /// An authorization request in the browser session, then the code's exchange.
    async fn code_flow(&self, i: usize) -> u16 {
        let Ok(r) = self
            .browser
            .get(&self.oauth.authorize)
            .header("cookie", &self.oauth.cookie)
            .header("x-forwarded-for", client_addr(i))
            .send()
            .await
        else {
            return 0;
        };
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let Some(code) = url::Url::parse(&location).ok().and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
        }) else {
            return r.status().as_u16();
        };
        let Ok(r) = self
            .http
            .post(format!("{}/oauth2/token", self.api))
            .basic_auth(&self.oauth.client_id, Some(&self.oauth.secret))
            .header("x-forwarded-for", client_addr(i))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await
        else {
            return 0;
        };
        let status = r.status().as_u16();
        // The client's tokens are its own (bound to it, for its audience): only their
        // session is noted, for the invariants, never fed to the /v1 operations.
        if status == 200
            && let Ok(body) = r.json::<Value>().await
            && let Some(sid) = body["access_token"].as_str().and_then(sid_of)
        {
            self.sids.lock().unwrap().push(sid);
        }
        status
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
            5 => self.code_flow(i).await,
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
