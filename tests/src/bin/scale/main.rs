//! The scale harness (not a test; `scripts/scale` runs it, docs/benchmarks.md has its
//! figures). It starts its own PostgreSQL cluster and Redis on loopback ports, N release
//! gateway instances sharing them, and HAProxy in front; seeds password accounts; drives a
//! mixed workload through the balancer for a bounded time (SIWE sign-ins with nonces from
//! whichever instance, refreshes, token validation at `/v1/me`, password sign-ins,
//! sign-ups, OAuth code flows), optionally at a steady rate, optionally with a fault halfway; and reports
//! throughput, p50/p99 and errors per operation, CPU per operation of the gateways and of
//! the backing services, memory and file descriptors of each instance over time, then
//! checks the invariants:
//!
//! - no refresh family forked (one unused token per session at most);
//! - no nonce accepted twice (every successful SIWE message, replayed, is refused);
//! - every 2xx sign-in backed by a committed session (its access token's `sid`);
//! - no account without a credential;
//! - a `sign_in` audit row for every successful sign-in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../load/drive.rs"]
mod drive;
mod infra;
#[allow(dead_code)]
#[path = "../load/seed.rs"]
mod seed;
mod work;

use anyhow::{Context, Result, bail};
use gatehouse_tests::balancer::Balancer;
use infra::{Instance, Postgres};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery staple";
const ADMIN: &str = "scale-harness-admin-token-0123456789";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// `kill -9` of instance 0 halfway, started again 3 s later.
    Kill,
    /// Redis killed halfway and started again (empty: it keeps nothing); on a Cluster, a
    /// primary killed (its replica takes over) and started again 5 s later (it rejoins as a
    /// replica).
    Redis,
    /// PostgreSQL crashed and restarted halfway (`pg_ctl restart -m immediate`).
    Postgres,
    /// Instance 0 started again halfway with its clock 90 s ahead (libfaketime): past the
    /// tokens' 60 s leeway, so its `/readyz` fails and the balancer drops it.
    Skew,
    /// Instance 0's Redis answers 300 ms late for 10 s halfway (a delaying proxy).
    SlowRedis,
}

pub struct Args {
    instances: usize,
    seconds: u64,
    concurrency: usize,
    /// Operations a second in all, or as fast as the clients go.
    rate: Option<f64>,
    accounts: u64,
    fault: Fault,
    /// A 3-primary Redis Cluster (3 replicas) instead of one server.
    cluster: bool,
    gateway: std::path::PathBuf,
}

fn args() -> Result<Args> {
    let mut a = Args {
        instances: 2,
        seconds: 30,
        concurrency: 32,
        rate: None,
        accounts: 1000,
        fault: Fault::None,
        cluster: false,
        gateway: "target/release/gatehouse".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--instances" => a.instances = value()?.parse()?,
            "--seconds" => a.seconds = value()?.parse()?,
            "--concurrency" => a.concurrency = value()?.parse()?,
            "--rate" => a.rate = Some(value()?.parse()?),
            "--accounts" => a.accounts = value()?.parse()?,
            "--gateway" => a.gateway = value()?.into(),
            "--redis" => {
                a.cluster = match value()?.as_str() {
                    "single" => false,
                    "cluster" => true,
                    other => bail!("--redis is single or cluster, not {other}"),
                }
            }
            "--fault" => {
                a.fault = match value()?.as_str() {
                    "none" => Fault::None,
                    "kill" => Fault::Kill,
                    "redis" => Fault::Redis,
                    "postgres" => Fault::Postgres,
                    "skew" => Fault::Skew,
                    "slow-redis" => Fault::SlowRedis,
                    other => bail!(
                        "--fault is none, kill, redis, postgres, skew or slow-redis, not {other}"
                    ),
                }
            }
            other => bail!(
                "unknown option {other}; options: --instances N, --seconds S, --concurrency C, \
                 --rate OPS_PER_S, --accounts N, --fault none|kill|redis|postgres|skew|slow-redis, --redis single|cluster, \
                 --gateway PATH"
            ),
        }
    }
    anyhow::ensure!(
        !(a.cluster && a.fault == Fault::SlowRedis),
        "--fault slow-redis proxies one server, not a Cluster"
    );
    anyhow::ensure!(
        (1..=8).contains(&a.instances) && (1..=3600).contains(&a.seconds),
        "1 to 8 instances, 1 to 3600 seconds"
    );
    Ok(a)
}

pub use drive::cpu_of_pid;

/// CPU seconds of every `postgres` and `redis-server` process (the machine's own are idle
/// while this runs, or count here too).
fn backing_cpu() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| matches!(c.trim(), "postgres" | "redis-server"))
        })
        .map(cpu_of_pid)
        .sum()
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    let dir = tempfile::tempdir()?;
    eprintln!(
        "starting PostgreSQL, Redis, {} instances and HAProxy",
        args.instances
    );
    let pg = Postgres::start(dir.path())?;
    let mut redis = gatehouse_tests::redis_nodes::RedisServer::single(dir.path()).await?;
    let mut cluster = match args.cluster {
        true => Some(gatehouse_tests::redis_nodes::RedisCluster::start(3).await?),
        false => None,
    };
    let lb_port = gatehouse_tests::redis_nodes::free_port()?;
    let env = vec![
        ("DATABASE_URL".to_string(), pg.url()),
        (
            "REDIS_URL".into(),
            match &cluster {
                Some(c) => c.url(),
                None => format!("redis://127.0.0.1:{}", redis.port),
            },
        ),
        (
            "GATEHOUSE_MASTER_KEY".into(),
            accounts::secret::MasterKey::generate_hex(),
        ),
        (
            "GATEHOUSE_PUBLIC_URL".into(),
            format!("http://127.0.0.1:{lb_port}"),
        ),
        ("GATEHOUSE_TRUST_PROXY".into(), "true".into()),
        ("GATEHOUSE_ADMIN_TOKEN".into(), ADMIN.into()),
    ];
    // Instance 0 reaches Redis through a proxy that can turn slow.
    let redis_url = format!("redis://127.0.0.1:{}", redis.port);
    let proxy = gatehouse_tests::proxy::Proxy::start(&redis_url).await?;
    let mut instances = Vec::new();
    for i in 0..args.instances {
        let data = dir.path().join(format!("gw{i}"));
        std::fs::create_dir_all(&data)?;
        let mut gw = Instance::new(&args.gateway, &env, &data)?;
        if i == 0 && args.fault == Fault::SlowRedis {
            gw.set_env("REDIS_URL", &proxy.url(&redis_url)?);
        }
        instances.push(gw);
    }
    // All at once: the migrations run once, under their lock.
    for gw in &mut instances {
        gw.spawn()?;
    }
    for gw in &instances {
        gw.ready(Duration::from_secs(60)).await?;
    }
    seed_accounts(&pg.url(), args.accounts).await?;
    let ports: Vec<u16> = instances.iter().map(|g| g.port).collect();
    let _lb = Balancer::start(dir.path(), &ports, lb_port).await?;

    let run_started = time::OffsetDateTime::now_utc().unix_timestamp();
    let cpu0: Vec<f64> = instances.iter().map(Instance::cpu).collect();
    let backing0 = backing_cpu();
    let started = Instant::now();
    let oauth = work::OAuthApp::new(&format!("http://127.0.0.1:{lb_port}"), ADMIN).await?;
    let load = work::Load::new(lb_port, args.accounts, oauth);
    let duration = Duration::from_secs(args.seconds);
    let driving = load.drive(args.concurrency, duration, args.rate);
    let mut footprints: Vec<String> = Vec::new();
    let watching = async {
        let mut faulted = false;
        while started.elapsed() < duration {
            tokio::time::sleep(Duration::from_secs(5).min(duration / 4)).await;
            let now: Vec<String> = instances
                .iter()
                .map(|g| {
                    g.footprint().map_or("down".into(), |(rss, fds)| {
                        format!("{} MiB/{fds} fds", rss / 1024)
                    })
                })
                .collect();
            footprints.push(format!(
                "{:>4} s: {}",
                started.elapsed().as_secs(),
                now.join(", ")
            ));
            if !faulted && started.elapsed() >= duration / 2 {
                faulted = true;
                match (&mut cluster, args.fault) {
                    (Some(c), Fault::Redis) => {
                        eprintln!("fault: a Redis Cluster primary killed");
                        c.nodes[0].kill().await?;
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        c.nodes[0].restart().await?;
                        eprintln!("fault: the old primary back, as a replica");
                    }
                    _ => inject(args.fault, &mut instances, &mut redis, &pg, &proxy).await?,
                }
            }
        }
        anyhow::Ok(())
    };
    let (report, watched) = tokio::join!(driving, watching);
    watched?;
    let wall = started.elapsed();
    let backing = backing_cpu() - backing0;
    let cpu: Vec<f64> = instances
        .iter()
        .zip(&cpu0)
        .map(|(g, c0)| g.cpu_before + g.cpu() - c0)
        .collect();

    println!(
        "\n{} instance(s) behind HAProxy, PostgreSQL and {} of their own; {} clients{}; \
         fault: {:?}; {:.1} s",
        args.instances,
        if args.cluster {
            "a 3-primary Redis Cluster"
        } else {
            "Redis"
        },
        args.concurrency,
        args.rate.map_or(String::new(), |r| format!(" at {r}/s")),
        args.fault,
        wall.as_secs_f64()
    );
    let ok_total = report.print(wall);
    let gateway_cpu: f64 = cpu.iter().sum();
    println!(
        "\nCPU: gateways {:.2} s ({}), {:.0} µs per successful operation; PostgreSQL + Redis \
         {:.2} s, {:.0} µs per operation",
        gateway_cpu,
        cpu.iter()
            .enumerate()
            .map(|(i, c)| format!("#{i} {c:.2} s"))
            .collect::<Vec<_>>()
            .join(", "),
        gateway_cpu / ok_total.max(1) as f64 * 1e6,
        backing,
        backing / ok_total.max(1) as f64 * 1e6,
    );
    // Each instance's own count of the requests it answered (since its last start).
    let mut per_instance = Vec::new();
    for (i, gw) in instances.iter().enumerate() {
        let requests = requests_answered(gw.port).await.unwrap_or(0.0);
        let life_cpu = gw.cpu() - if gw.cpu_before > 0.0 { 0.0 } else { cpu0[i] };
        per_instance.push(format!(
            "#{i} {requests:.0} requests, {:.0} µs of CPU each",
            life_cpu / requests.max(1.0) * 1e6
        ));
    }
    println!("Per instance (this life): {}", per_instance.join("; "));
    println!("\nMemory and descriptors per instance:");
    for f in &footprints {
        println!("  {f}");
    }
    let violations = work::check(&load, &pg.url(), run_started).await?;
    if violations > 0 {
        bail!("{violations} invariant(s) violated");
    }
    Ok(())
}

/// The requests an instance answered on the pool's routes, from its own `/metrics`.
async fn requests_answered(port: u16) -> Result<f64> {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await?
        .text()
        .await?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("gatehouse_http_requests_total{route=\"/pools/{pool}"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

async fn inject(
    fault: Fault,
    instances: &mut [Instance],
    redis: &mut gatehouse_tests::redis_nodes::RedisServer,
    pg: &Postgres,
    proxy: &gatehouse_tests::proxy::Proxy,
) -> Result<()> {
    use gatehouse_tests::proxy::Mode;
    match fault {
        Fault::None => {}
        Fault::Kill => {
            eprintln!("fault: kill -9 instance 0");
            instances[0].kill()?;
            tokio::time::sleep(Duration::from_secs(3)).await;
            instances[0].spawn()?;
            instances[0].ready(Duration::from_secs(30)).await?;
            eprintln!("fault: instance 0 back");
        }
        Fault::Redis => {
            eprintln!("fault: Redis killed and started again");
            redis.restart().await?;
        }
        Fault::Postgres => {
            eprintln!("fault: PostgreSQL crashed and restarted");
            pg.restart()?;
        }
        Fault::Skew => {
            eprintln!("fault: instance 0 restarted 90 s ahead");
            instances[0].kill()?;
            instances[0].set_env("LD_PRELOAD", &infra::libfaketime()?);
            instances[0].set_env("FAKETIME", "+90s");
            // Timers and timeouts keep the real monotonic clock; only the wall clock is off.
            instances[0].set_env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
            instances[0].spawn()?;
        }
        Fault::SlowRedis => {
            eprintln!("fault: instance 0's Redis 300 ms late for 10 s");
            proxy.set(Mode::Slow(Duration::from_millis(300)));
            tokio::time::sleep(Duration::from_secs(10)).await;
            proxy.set(Mode::Up);
        }
    }
    Ok(())
}

/// `n` password accounts (`seed{i}@load.test`), by SQL: one shared argon2id hash.
async fn seed_accounts(url: &str, n: u64) -> Result<()> {
    let hash = accounts::password::PasswordHasher::new(1)?
        .hash(&accounts::secret::Secret::new(PASSWORD))
        .await?;
    let db = sqlx::PgPool::connect(url).await?;
    let pool_id: String = sqlx::query_scalar("SELECT id FROM pool WHERE name = 'main'")
        .fetch_one(&db)
        .await?;
    db.close().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    seed::postgres(url, &pool_id, n, &hash, now).await
}
