//! The load benchmark (not a test; `scripts/load` runs it). It starts the release gateway
//! pinned to one core with one tokio worker, seeds its database, drives it with concurrent
//! keep-alive clients from this process (pinned by the script to the other core), and
//! prints, per scenario, throughput, p50/p99 latency and the gateway's CPU per successful
//! operation (user + system time from `/proc/<pid>/stat`), with the database's and Redis's
//! CPU beside it on PostgreSQL. The scenarios:
//!
//! - `siwe`: a nonce and a sign-in with it, counted together, for returning EOA wallets
//!   (each message signed here between the nonce phase and the sign-in phase, off the clock);
//! - `refresh`: rotating the refresh tokens the SIWE sign-ins returned;
//! - `password`: email and password sign-ins of seeded accounts, beside one argon2id hash
//!   measured in the same run (its floor);
//! - `code`: the OAuth authorization-code exchange at `/oauth2/token` of a confidential
//!   client (the codes are obtained beforehand through a browser session, off the clock).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod drive;
mod seed;

use anyhow::{Context, Result, bail};
use drive::{Outcome, Proc, run};
use gatehouse_tests::siwe_key::SiweKey;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery staple";
const CALLBACK: &str = "https://app.load.test/callback";
const ADMIN: &str = "load-benchmark-admin-token-0123456789";

struct Args {
    postgres: Option<(String, String)>,
    accounts: u64,
    ops: usize,
    password_ops: usize,
    concurrency: usize,
    gateway: PathBuf,
    cpu: String,
}

fn args() -> Result<Args> {
    let mut a = Args {
        postgres: None,
        accounts: 10_000,
        ops: 20_000,
        password_ops: 300,
        concurrency: 16,
        gateway: PathBuf::from("target/release/gatehouse"),
        cpu: "0".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--backend" => match value()?.as_str() {
                "sqlite" => a.postgres = None,
                "postgres" => {
                    let db = std::env::var("GATEHOUSE_TEST_DATABASE_URL")
                        .context("--backend postgres needs GATEHOUSE_TEST_DATABASE_URL")?;
                    let redis = std::env::var("GATEHOUSE_TEST_REDIS_URL")
                        .context("--backend postgres needs GATEHOUSE_TEST_REDIS_URL")?;
                    a.postgres = Some((db, redis));
                }
                other => bail!("--backend is sqlite or postgres, not {other}"),
            },
            "--accounts" => a.accounts = value()?.replace('_', "").parse()?,
            "--ops" => a.ops = value()?.parse()?,
            "--password-ops" => a.password_ops = value()?.parse()?,
            "--concurrency" => a.concurrency = value()?.parse()?,
            "--gateway" => a.gateway = value()?.into(),
            "--cpu" => a.cpu = value()?,
            other => bail!(
                "unknown option {other}; options: --backend sqlite|postgres, --accounts N, \
                 --ops N, --password-ops N, --concurrency N, --gateway PATH, --cpu CORE"
            ),
        }
    }
    Ok(a)
}

/// The gateway under test, a child process.
struct Gateway {
    child: Child,
    base: String,
    api: String,
}

impl Gateway {
    async fn start(args: &Args, env: &[(String, String)], port: u16) -> Result<Self> {
        let child = Command::new("taskset")
            .args(["-c", &args.cpu])
            .arg(&args.gateway)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("GATEHOUSE_LISTEN", format!("127.0.0.1:{port}"))
            .env("GATEHOUSE_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .env("TOKIO_WORKER_THREADS", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {} under taskset", args.gateway.display()))?;
        let base = format!("http://127.0.0.1:{port}");
        let gw = Gateway {
            child,
            api: format!("{base}/pools/main"),
            base,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", gw.base)).send().await
                && r.status().is_success()
            {
                return Ok(gw);
            }
            if Instant::now() > deadline {
                bail!("the gateway did not become ready in 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) -> Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Gateway {
    /// A run that fails midway does not leave the gateway running on its core.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A simulated client's address (RFC 2544's benchmarking range), so the per-address limits
/// meter clients, not the benchmark.
fn client_addr(i: usize) -> String {
    format!("198.18.{}.{}", (i / 250) % 250, i % 250 + 1)
}

fn print_row(name: &str, seeded: u64, o: &Outcome, db: Option<f64>, extra: &str) {
    let db = db.map_or("—".to_string(), |d| format!("{d:.0} µs"));
    println!(
        "| {name} | {seeded} | {} | {:.0}/s | {:.2} ms | {:.2} ms | {:.0} µs | {db} | {extra}",
        o.ok,
        o.throughput(),
        o.p50.as_secs_f64() * 1e3,
        o.p99.as_secs_f64() * 1e3,
        o.cpu_per_op_us(),
    );
}

/// `load --argon2-floor N`: N argon2id hashes (m=19456, t=2, p=1, the gateway's) into
/// memory allocated once, the fastest known way to do the step, and prints the CPU seconds
/// per hash. The benchmark runs it pinned to the gateway's core, just before and after the
/// password sign-ins, so the floor and the measurement share a core and its neighbours.
fn argon2_floor(n: u32) -> Result<()> {
    use argon2::{Algorithm, Argon2, Block, Params, Version};
    let params = Params::new(19_456, 2, 1, Some(32)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut memory = vec![Block::default(); params.block_count()];
    let mut out = [0u8; 32];
    let mut hash = || {
        hasher
            .hash_password_into_with_memory(
                PASSWORD.as_bytes(),
                b"a salt of 16 b..",
                &mut out,
                &mut memory,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))
    };
    hash()?; // touch the memory once
    let before = drive::own_cpu();
    for _ in 0..n {
        hash()?;
    }
    println!("{}", (drive::own_cpu() - before) / f64::from(n));
    Ok(())
}

/// The argon2id floor measured on `cpu` (see [`argon2_floor`]), in seconds of CPU.
fn floor_on(cpu: &str) -> Result<f64> {
    let out = Command::new("taskset")
        .args(["-c", cpu])
        .arg(std::env::current_exe()?)
        .args(["--argon2-floor", "10"])
        .output()?;
    anyhow::ensure!(out.status.success(), "the argon2id floor run failed");
    Ok(String::from_utf8(out.stdout)?.trim().parse()?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    if std::env::args().nth(1).as_deref() == Some("--argon2-floor") {
        let n = std::env::args()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .unwrap_or(10);
        return argon2_floor(n);
    }
    let args = args()?;
    let dir = tempfile::tempdir()?;
    let master = accounts::secret::MasterKey::generate_hex();
    let (database_url, redis_url, pg_admin) = match &args.postgres {
        None => (
            format!("sqlite://{}", dir.path().join("gatehouse.db").display()),
            None,
            None,
        ),
        Some((server, redis)) => {
            let (url, name) = gatehouse_tests::create_database(server, "gatehouse_load").await?;
            (url, Some(redis.clone()), Some((server.clone(), name)))
        }
    };
    let mut env = vec![
        ("DATABASE_URL".to_string(), database_url.clone()),
        (
            "GATEHOUSE_DATA_DIR".into(),
            dir.path().display().to_string(),
        ),
        ("GATEHOUSE_MASTER_KEY".into(), master),
        ("GATEHOUSE_TRUST_PROXY".into(), "true".into()),
        ("GATEHOUSE_ADMIN_TOKEN".into(), ADMIN.into()),
    ];
    if let Some(r) = &redis_url {
        env.push(("REDIS_URL".into(), r.clone()));
    }
    let result = bench(&args, &env, &database_url).await;
    if let Some((server, name)) = pg_admin {
        let admin = sqlx::PgPool::connect(&server).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&admin)
            .await?;
    }
    result
}

async fn bench(args: &Args, env: &[(String, String)], database_url: &str) -> Result<()> {
    let backend = if args.postgres.is_some() {
        "PostgreSQL + Redis"
    } else {
        "SQLite, in-process"
    };
    // Migrate and create the pool, then seed with the gateway stopped.
    let port = free_port()?;
    Gateway::start(args, env, port).await?.stop()?;
    let hasher = accounts::password::PasswordHasher::new(1)?;
    let pw = accounts::secret::Secret::new(PASSWORD);
    let hash = hasher.hash(&pw).await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let t = Instant::now();
    let pool_id: String = {
        sqlx::any::install_default_drivers();
        let db = sqlx::AnyPool::connect(database_url).await?;
        let id = sqlx::query_scalar("SELECT id FROM pool WHERE name = 'main'")
            .fetch_one(&db)
            .await?;
        db.close().await;
        id
    };
    match &args.postgres {
        None => seed::sqlite(database_url, &pool_id, args.accounts, hash.as_str(), now).await?,
        Some(_) => {
            seed::postgres(database_url, &pool_id, args.accounts, hash.as_str(), now).await?
        }
    }
    eprintln!(
        "seeded {} accounts in {:.1} s",
        args.accounts,
        t.elapsed().as_secs_f64()
    );

    let gw = Gateway::start(args, env, port).await?;
    let authority = format!("127.0.0.1:{port}");
    let proc = Proc::new(gw.pid(), args.postgres.is_some());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let c = args.concurrency;

    // Returning wallets: each signs in once before the measurement.
    let wallets: Arc<Vec<SiweKey>> = Arc::new((0..500).map(|_| SiweKey::new()).collect());
    let nonce_url = format!("{}/v1/siwe/nonce", gw.api);
    let siwe_url = format!("{}/v1/sessions/siwe", gw.api);
    let warm = siwe(
        &http,
        &proc,
        &nonce_url,
        &siwe_url,
        &wallets,
        &authority,
        wallets.len(),
        c,
    )
    .await?;
    anyhow::ensure!(warm.1.ok == wallets.len(), "warm-up sign-ins failed");

    println!(
        "\n{backend}; gateway on core {} with one worker; {c} keep-alive clients",
        args.cpu
    );
    println!(
        "| scenario | accounts | ok | throughput | p50 | p99 | gateway CPU/op | database CPU/op | notes |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let (tokens, siwe_o) = siwe(
        &http, &proc, &nonce_url, &siwe_url, &wallets, &authority, args.ops, c,
    )
    .await?;
    print_row(
        "SIWE (nonce + sign-in)",
        args.accounts,
        &siwe_o,
        siwe_o.db_per_op_us(),
        "",
    );

    let refresh_url = format!("{}/v1/sessions/refresh", gw.api);
    let bodies: Vec<String> = tokens
        .iter()
        .map(|t| json!({ "refresh_token": t }).to_string())
        .collect();
    let o = run(&proc, c, bodies.len(), |i| {
        http.post(&refresh_url)
            .header("content-type", "application/json")
            .header("x-forwarded-for", client_addr(i))
            .body(bodies[i].clone())
    })
    .await?;
    print_row("refresh", args.accounts, &o, o.db_per_op_us(), "");

    let password_url = format!("{}/v1/sessions/password", gw.api);
    let floor_before = floor_on(&args.cpu)?;
    let n = args.password_ops.min(usize::try_from(args.accounts)?);
    let o = run(&proc, c, n, |i| {
        http.post(&password_url)
            .header("x-forwarded-for", client_addr(i))
            .json(&json!({ "email": seed::email(i as u64 + 1), "password": PASSWORD }))
    })
    .await?;
    // The floor: one argon2id hash on the gateway's core, before and after.
    let argon2_cpu = (floor_before + floor_on(&args.cpu)?) / 2.0;
    print_row(
        "password",
        args.accounts,
        &o,
        o.db_per_op_us(),
        &format!(
            "argon2id floor {:.1} ms of CPU; ratio {:.3}",
            argon2_cpu * 1e3,
            o.cpu_per_op_us() / (argon2_cpu * 1e6)
        ),
    );

    let o = code_exchange(&http, &proc, &gw, c, args.ops).await?;
    print_row(
        "OAuth code exchange",
        args.accounts,
        &o,
        o.db_per_op_us(),
        "",
    );
    gw.stop()?;
    Ok(())
}

/// `n` SIWE sign-ins by the `wallets` in turn: every nonce first, then every sign-in. The
/// refresh tokens and the outcome, both phases counted together.
#[allow(clippy::too_many_arguments)]
async fn siwe(
    http: &reqwest::Client,
    proc: &Proc,
    nonce_url: &str,
    siwe_url: &str,
    wallets: &Arc<Vec<SiweKey>>,
    authority: &str,
    n: usize,
    c: usize,
) -> Result<(Vec<String>, Outcome)> {
    let nonces = Arc::new(std::sync::Mutex::new(vec![String::new(); n]));
    let sink = nonces.clone();
    let first = drive::run_collect(
        proc,
        c,
        n,
        |i| {
            http.post(nonce_url)
                .header("x-forwarded-for", client_addr(i))
                .header("content-type", "application/json")
                .body("{}")
        },
        move |i, body: &Value| {
            sink.lock().unwrap()[i] = body["nonce"].as_str().unwrap_or_default().to_string();
        },
    )
    .await?;
    let nonces = std::mem::take(&mut *nonces.lock().unwrap());
    let bodies: Vec<String> = nonces
        .iter()
        .enumerate()
        .map(|(i, nonce)| {
            wallets[i % wallets.len()]
                .sign_in_body(authority, nonce)
                .to_string()
        })
        .collect();
    let tokens = Arc::new(std::sync::Mutex::new(vec![String::new(); n]));
    let sink = tokens.clone();
    let second = drive::run_collect(
        proc,
        c,
        n,
        |i| {
            http.post(siwe_url)
                .header("x-forwarded-for", client_addr(i))
                .header("content-type", "application/json")
                .body(bodies[i].clone())
        },
        move |i, body: &Value| {
            sink.lock().unwrap()[i] = body["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        },
    )
    .await?;
    let tokens = std::mem::take(&mut *tokens.lock().unwrap());
    Ok((tokens, first.then(second)))
}

/// Authorization codes for a confidential client through one browser session (off the
/// clock, in batches that live well within a code's 60 s), each exchanged at the token
/// endpoint (measured).
async fn code_exchange(
    http: &reqwest::Client,
    proc: &Proc,
    gw: &Gateway,
    c: usize,
    n: usize,
) -> Result<Outcome> {
    let app: Value = http
        .post(format!("{}/admin/v1/pools/main/clients", gw.base))
        .bearer_auth(ADMIN)
        .json(&json!({ "name": "Load", "public": false, "redirect_uris": [CALLBACK] }))
        .send()
        .await?
        .json()
        .await?;
    let id = app["client_id"].as_str().context("client_id")?.to_string();
    let secret = app["client_secret"]
        .as_str()
        .context("client_secret")?
        .to_string();
    let verifier = "load-benchmark-verifier-0123456789-0123456789-abcdefghij";
    let challenge = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()),
    );
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", &id),
            ("redirect_uri", CALLBACK),
            ("scope", "openid email offline_access"),
            ("state", "s"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    let authorize = format!("{}/oauth2/authorize?{query}", gw.api);
    let cookie = drive::browser_session(
        http,
        &gw.base,
        &gw.api,
        &authorize,
        &seed::email(1),
        PASSWORD,
    )
    .await?;
    let token_url = format!("{}/oauth2/token", gw.api);
    let mut total: Option<Outcome> = None;
    let mut left = n;
    while left > 0 {
        let batch = left.min(2000);
        left -= batch;
        let mut codes = Vec::with_capacity(batch);
        for _ in 0..batch {
            let r = http
                .get(&authorize)
                .header("cookie", &cookie)
                .send()
                .await?;
            let location = r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let code = url::Url::parse(location)?
                .query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
                .with_context(|| format!("no code in {location}"))?;
            codes.push(code);
        }
        let o = run(proc, c, batch, |i| {
            http.post(&token_url)
                .basic_auth(&id, Some(&secret))
                .header("x-forwarded-for", client_addr(i))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", codes[i].as_str()),
                    ("redirect_uri", CALLBACK),
                    ("code_verifier", verifier),
                ])
        })
        .await?;
        total = Some(match total {
            None => o,
            Some(t) => t.merge(o),
        });
    }
    total.context("no operations")
}
