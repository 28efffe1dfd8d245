//! The end-to-end harness: starts the real gateway through `gateway::serve` on port 0, on
//! SQLite and the in-process store, or on PostgreSQL and Redis when
//! `GATEHOUSE_TEST_DATABASE_URL` and `GATEHOUSE_TEST_REDIS_URL` are set; a real SMTP server
//! (mailin-embedded) receives the gateway's mail; raw SQL reads the database state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod balancer;
pub mod chain;
pub mod openapi;
pub mod proxy;
pub mod redis_nodes;
pub mod s3;
pub mod siwe_key;
pub mod smtp;

use anyhow::{Context, Result};
use gateway::clock::Clock;
use gateway::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::AnyPool;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::oneshot;

pub use smtp::{MailSink, Received};

/// Which stores a test runs against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in a temporary data directory, in-process ephemeral store.
    Sqlite,
    /// PostgreSQL (a fresh database per test) and Redis.
    Postgres {
        server_url: String,
        redis_url: String,
    },
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }

    /// The backends this run covers: SQLite always; PostgreSQL and Redis when both
    /// variables are set (setting one without the other is an error, not a skip).
    pub fn all() -> Result<Vec<Backend>> {
        let db = std::env::var("GATEHOUSE_TEST_DATABASE_URL")
            .ok()
            .filter(|v| !v.is_empty());
        let redis = std::env::var("GATEHOUSE_TEST_REDIS_URL")
            .ok()
            .filter(|v| !v.is_empty());
        match (db, redis) {
            (None, None) => Ok(vec![Backend::Sqlite]),
            (Some(server_url), Some(redis_url)) => Ok(vec![
                Backend::Sqlite,
                Backend::Postgres {
                    server_url,
                    redis_url,
                },
            ]),
            _ => anyhow::bail!(
                "set both GATEHOUSE_TEST_DATABASE_URL and GATEHOUSE_TEST_REDIS_URL, or neither"
            ),
        }
    }
}

/// One test's isolated world: a data directory and a database of its own, shared by every
/// gateway the test starts (restarts, several instances).
pub struct World {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pub database_url: String,
    pub redis_url: Option<String>,
    pub mail: MailSink,
    /// Set for PostgreSQL worlds (a generated key is for the SQLite default only).
    pub master_key: Option<String>,
    pg_admin: Option<(String, String)>,
}

/// Creates a fresh database named `{prefix}_{uuid}` on the PostgreSQL server at
/// `server_url`; its URL and its name.
pub async fn create_database(server_url: &str, prefix: &str) -> Result<(String, String)> {
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(server_url)
        .await
        .with_context(|| format!("PostgreSQL at {server_url} is unreachable"))?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await?;
    admin.close().await;
    let mut url = url::Url::parse(server_url)?;
    url.set_path(&format!("/{name}"));
    Ok((url.to_string(), name))
}

/// The public URL of every test gateway (what issuers are built from).
pub const PUBLIC_URL: &str = "http://gatehouse.test";

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A unique email address for this process.
pub fn unique_email(tag: &str) -> String {
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    format!("{tag}.{}.{n}@example.com", uuid::Uuid::new_v4().simple())
}

impl World {
    pub async fn new(backend: &Backend, mail: MailSink) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let (database_url, redis_url, pg_admin) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("gatehouse.db").display()),
                None,
                None,
            ),
            Backend::Postgres {
                server_url,
                redis_url,
            } => {
                let (url, name) = create_database(server_url, "gatehouse_test").await?;
                (
                    url,
                    Some(redis_url.clone()),
                    Some((server_url.clone(), name)),
                )
            }
        };
        let master_key = pg_admin
            .as_ref()
            .map(|_| accounts::secret::MasterKey::generate_hex());
        Ok(Self {
            backend: backend.clone(),
            dir,
            database_url,
            redis_url,
            mail,
            master_key,
            pg_admin,
        })
    }

    /// The config a gateway of this world runs with, public at `port`.
    pub fn config(&self, port: u16) -> Config {
        let env: HashMap<String, String> = [
            ("GATEHOUSE_LISTEN", format!("127.0.0.1:{port}")),
            ("GATEHOUSE_DATA_DIR", self.dir.path().display().to_string()),
            ("DATABASE_URL", self.database_url.clone()),
            ("REDIS_URL", self.redis_url.clone().unwrap_or_default()),
            (
                "GATEHOUSE_SMTP_URL",
                format!("smtp://127.0.0.1:{}", self.mail.port()),
            ),
            ("GATEHOUSE_MAIL_POLL_MS", "50".to_string()),
            // Every instance of a world sits behind one public URL, as behind a load balancer.
            ("GATEHOUSE_PUBLIC_URL", PUBLIC_URL.to_string()),
            (
                "GATEHOUSE_MASTER_KEY",
                self.master_key.clone().unwrap_or_default(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Config::load(None, &env).expect("test config")
    }

    pub async fn start(&self) -> Result<Gateway> {
        self.start_with(|_| {}).await
    }

    /// Starts a gateway after letting the test adjust its config.
    pub async fn start_with(&self, adjust: impl FnOnce(&mut Config)) -> Result<Gateway> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let mut config = self.config(port);
        adjust(&mut config);
        let clock = Clock::default();
        let state = gateway::AppState::build(config, clock.clone()).await?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(gateway::serve(state.clone(), listener, async {
            let _ = stopped.await;
        }));
        let base = format!("http://127.0.0.1:{port}");
        Ok(Gateway {
            issuer: state.config.issuer("main"),
            api: format!("{base}/pools/main"),
            base,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            clock,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Raw SQL on the world's database, independent of the gateway's own store code.
    pub async fn db(&self) -> Result<AnyPool> {
        sqlx::any::install_default_drivers();
        Ok(sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(&self.database_url)
            .await?)
    }

    /// Drops the per-test PostgreSQL database.
    pub async fn cleanup(&self) -> Result<()> {
        if let Some((server, name)) = &self.pg_admin {
            let admin = sqlx::PgPool::connect(server).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&admin)
                .await?;
            admin.close().await;
        }
        Ok(())
    }
}

/// A running gateway and an HTTP client for it.
pub struct Gateway {
    /// Where this instance listens.
    pub base: String,
    /// The `main` pool's issuer (under the shared public URL).
    pub issuer: String,
    /// The `main` pool's API on this instance.
    pub api: String,
    pub http: reqwest::Client,
    pub clock: Clock,
    pub state: gateway::AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// An answer: status, headers and JSON body (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body.get("code").and_then(Value::as_str).unwrap_or("")
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub fn str(&self, key: &str) -> String {
        self.body
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    }
}

impl Gateway {
    /// Sends a request to a path under the `main` pool's issuer (or the root, if it starts
    /// with `//`).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        bearer: Option<&str>,
    ) -> Result<Answer> {
        let url = match path.strip_prefix("//") {
            Some(root) => format!("{}/{root}", self.base),
            None => format!("{}{path}", self.api),
        };
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let res = req.send().await?;
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Answer> {
        self.call(Method::POST, path, Some(body), None).await
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Result<Answer> {
        self.call(Method::GET, path, None, Some(token)).await
    }

    pub async fn post_auth(&self, path: &str, body: Value, token: &str) -> Result<Answer> {
        self.call(Method::POST, path, Some(body), Some(token)).await
    }

    /// Stops the gateway gracefully and waits for it.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await??;
        }
        Ok(())
    }

    /// Signs up `email`, reads the code from the mail, confirms: an active account.
    pub async fn signup_confirmed(
        &self,
        mail: &MailSink,
        email: &str,
        password: &str,
    ) -> Result<()> {
        let r = self
            .post(
                "/v1/signup",
                json!({ "email": email, "password": password }),
            )
            .await?;
        anyhow::ensure!(r.status == StatusCode::ACCEPTED, "signup: {r:?}");
        let code = mail.wait_code(email, "sign-up code").await?;
        let r = self
            .post(
                "/v1/signup/confirm",
                json!({ "email": email, "code": code, "password": password }),
            )
            .await?;
        anyhow::ensure!(r.status == StatusCode::OK, "confirm: {r:?}");
        Ok(())
    }

    /// A confirmed account, signed in: its token set.
    /// Recovery by email: asks for a code, reads it from the mail, confirms it (no new
    /// password); the answer of the confirmation.
    pub async fn recovered(&self, mail: &MailSink, email: &str) -> Result<Answer> {
        self.post("/v1/recovery", json!({ "email": email })).await?;
        let code = mail.wait_code(email, "recovery code").await?;
        self.post(
            "/v1/recovery/confirm",
            json!({ "email": email, "code": code }),
        )
        .await
    }

    pub async fn signed_in(&self, mail: &MailSink, email: &str, password: &str) -> Result<Value> {
        self.signup_confirmed(mail, email, password).await?;
        let r = self
            .post(
                "/v1/sessions/password",
                json!({ "email": email, "password": password }),
            )
            .await?;
        anyhow::ensure!(r.status == StatusCode::OK, "sign-in: {r:?}");
        Ok(r.body)
    }
}

/// The decoded claims of a JWT, verified against the gateway's published JWKS with an
/// independent library (jsonwebtoken).
pub async fn verified_claims(gw: &Gateway, token: &str, audience: &str) -> Result<Value> {
    let jwks: jsonwebtoken::jwk::JwkSet = gw
        .http
        .get(format!("{}/.well-known/jwks.json", gw.api))
        .send()
        .await?
        .json()
        .await?;
    let header = jsonwebtoken::decode_header(token)?;
    let kid = header.kid.context("kid")?;
    let jwk = jwks.find(&kid).context("kid not in the JWKS")?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk)?;
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_issuer(&[&gw.issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub", "iat"]);
    Ok(jsonwebtoken::decode::<Value>(token, &key, &v)?.claims)
}

/// Where the workspace root is (for fixtures and the built binary).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The third-party clients (jose, viem, PyJWT, …) in `tests/clients`, which
/// `scripts/install-test-clients` installs (`scripts/test` runs it first). Tests never
/// install anything themselves: they say what is missing.
pub fn clients_dir() -> Result<PathBuf> {
    let dir = workspace_root().join("tests/clients");
    for needed in ["node_modules/jose", "node_modules/viem", ".venv/bin/python"] {
        anyhow::ensure!(
            dir.join(needed).exists(),
            "{} is missing: run scripts/install-test-clients (scripts/test runs it)",
            dir.join(needed).display()
        );
    }
    Ok(dir)
}

/// The code block that follows `<!-- snippet: NAME -->` in a Markdown file of `docs/`.
pub fn doc_snippet(doc: &str, name: &str) -> Result<String> {
    let text = std::fs::read_to_string(workspace_root().join("docs").join(doc))?;
    let marker = format!("<!-- snippet: {name} -->");
    let after = text
        .split_once(&marker)
        .map(|(_, a)| a)
        .context("no such snippet")?;
    let start = after.find("```").context("no code block")?;
    let body = &after[start..];
    let body = &body[body.find('\n').context("fence")? + 1..];
    let end = body.find("\n```").context("unclosed code block")?;
    Ok(body[..end + 1].to_string())
}

/// A message signed by a wallet driven with viem (`tests/clients/siwe.mjs`).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct SignedSiwe {
    pub address: String,
    #[serde(rename = "privateKey")]
    pub private_key: String,
    pub message: String,
    pub signature: String,
}

impl SignedSiwe {
    pub fn body(&self) -> Value {
        json!({ "message": self.message, "signature": self.signature })
    }

    pub fn caip10(&self, chain: u64) -> String {
        format!("eip155:{chain}:{}", self.address)
    }
}

/// Runs `tests/clients/{script}` with `input` (JSON) as its argument; its JSON output.
/// Starts a test server (an IdP, a breach corpus) that prints one line once it listens:
/// the running child (killed when dropped) and that line.
pub async fn spawn_listening(
    mut cmd: tokio::process::Command,
) -> Result<(tokio::process::Child, String)> {
    use tokio::io::AsyncBufReadExt;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    tokio::io::BufReader::new(stdout)
        .read_line(&mut line)
        .await?;
    anyhow::ensure!(!line.is_empty(), "the server exited before it listened");
    Ok((child, line))
}

pub async fn node_client<T: serde::de::DeserializeOwned>(script: &str, input: &Value) -> Result<T> {
    let dir = clients_dir()?;
    let out = tokio::process::Command::new("node")
        .arg(dir.join(script))
        .arg(input.to_string())
        .current_dir(&dir)
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "{script} {input}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Runs the viem wallet with `input` (see siwe.mjs for the fields).
pub async fn siwe_sign(input: &Value) -> Result<SignedSiwe> {
    node_client("siwe.mjs", input).await
}

impl Gateway {
    pub async fn siwe_nonce(&self) -> Result<String> {
        let r = self.post("/v1/siwe/nonce", json!({})).await?;
        anyhow::ensure!(r.status == StatusCode::OK, "nonce: {r:?}");
        Ok(r.str("nonce"))
    }

    /// Signs in with a message signed as [`Gateway::siwe_signed`] makes it; the answer.
    pub async fn siwe_sign_in(&self, key: Option<&str>, extra: Value) -> Result<Answer> {
        let signed = self.siwe_signed(key, extra).await?;
        self.post("/v1/sessions/siwe", signed.body()).await
    }

    /// A fresh nonce and a message for this gateway (domain and URI of [`PUBLIC_URL`],
    /// chain 1) signed by `key` (a new wallet when `None`); `extra` overrides fields.
    pub async fn siwe_signed(&self, key: Option<&str>, extra: Value) -> Result<SignedSiwe> {
        let mut input = json!({
            "domain": "gatehouse.test",
            "uri": format!("{PUBLIC_URL}/login"),
            "chainId": 1,
            "nonce": self.siwe_nonce().await?,
        });
        if let Some(k) = key {
            input["privateKey"] = json!(k);
        }
        if let (Some(obj), Some(more)) = (input.as_object_mut(), extra.as_object()) {
            for (k, v) in more {
                obj.insert(k.clone(), v.clone());
            }
        }
        siwe_sign(&input).await
    }
}
