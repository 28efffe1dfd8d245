//! Driving the gateway: concurrent keep-alive clients over a list of requests, latency per
//! request, and the CPU the gateway (and, on PostgreSQL, the database and Redis) spent.

use anyhow::{Context, Result};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// CPU time of the gateway and of the backing services, read from `/proc`.
pub struct Proc {
    pid: u32,
    backing: bool,
    tick: f64,
}

/// Seconds of user + system CPU in a `/proc/<pid>/stat` line.
fn cpu_of(stat: &str, tick: f64) -> Option<f64> {
    // The command name is in parentheses and may hold spaces: count fields after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / tick)
}

/// Clock ticks per second, asked once.
static TICK: std::sync::LazyLock<f64> = std::sync::LazyLock::new(Proc::tick);

/// User + system CPU seconds of process `pid` (0 when it is gone).
pub fn cpu_of_pid(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| cpu_of(&s, *TICK))
        .unwrap_or(0.0)
}

/// This process's own CPU time, in seconds.
pub fn own_cpu() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| cpu_of(&s, Proc::tick()))
        .unwrap_or(0.0)
}

impl Proc {
    fn tick() -> f64 {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    }

    pub fn new(pid: u32, backing: bool) -> Self {
        Self {
            pid,
            backing,
            tick: Self::tick(),
        }
    }

    fn gateway(&self) -> f64 {
        cpu_of_pid(self.pid)
    }

    /// Every `postgres` and `redis-server` process on the machine (nothing else runs them).
    fn backing(&self) -> Option<f64> {
        if !self.backing {
            return None;
        }
        let mut total = 0.0;
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let name = stat
                .split_once('(')
                .and_then(|(_, r)| r.split_once(')'))
                .map(|(n, _)| n);
            if matches!(name, Some("postgres" | "redis-server")) {
                total += cpu_of(&stat, self.tick).unwrap_or(0.0);
            }
        }
        Some(total)
    }
}

/// What one measured run did.
pub struct Outcome {
    pub ok: usize,
    pub failed: usize,
    pub wall: Duration,
    pub p50: Duration,
    pub p99: Duration,
    samples: Vec<Duration>,
    cpu: f64,
    db_cpu: Option<f64>,
}

impl Outcome {
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.wall.as_secs_f64()
    }

    pub fn cpu_per_op_us(&self) -> f64 {
        self.cpu / self.ok.max(1) as f64 * 1e6
    }

    pub fn db_per_op_us(&self) -> Option<f64> {
        self.db_cpu.map(|d| d / self.ok.max(1) as f64 * 1e6)
    }

    /// Two phases of one operation (a nonce and its sign-in): the operations of the second,
    /// the time and CPU of both; each latency is the sum of its two requests.
    pub fn then(self, next: Outcome) -> Outcome {
        let samples = self
            .samples
            .iter()
            .zip(&next.samples)
            .map(|(a, b)| *a + *b)
            .collect();
        self.combine(next.ok, samples, next)
    }

    /// Two batches of the same operation.
    pub fn merge(self, next: Outcome) -> Outcome {
        let samples = self.samples.iter().chain(&next.samples).copied().collect();
        self.combine(self.ok + next.ok, samples, next)
    }

    fn combine(&self, ok: usize, samples: Vec<Duration>, next: Outcome) -> Outcome {
        let mut out = Outcome::from_samples(
            samples,
            ok,
            self.failed + next.failed,
            self.wall + next.wall,
        );
        out.cpu = self.cpu + next.cpu;
        out.db_cpu = self.db_cpu.zip(next.db_cpu).map(|(a, b)| a + b);
        out
    }

    fn from_samples(mut samples: Vec<Duration>, ok: usize, failed: usize, wall: Duration) -> Self {
        samples.sort();
        let at = |q: f64| {
            samples
                .get(((samples.len().max(1) - 1) as f64 * q).round() as usize)
                .copied()
                .unwrap_or_default()
        };
        let (p50, p99) = (at(0.5), at(0.99));
        Outcome {
            ok,
            failed,
            wall,
            p50,
            p99,
            samples,
            cpu: 0.0,
            db_cpu: None,
        }
    }
}

/// Sends the `n` requests `make` builds, `c` at a time over keep-alive connections.
pub async fn run<F>(proc: &Proc, c: usize, n: usize, make: F) -> Result<Outcome>
where
    F: Fn(usize) -> reqwest::RequestBuilder,
{
    run_collect(proc, c, n, make, |_, _| {}).await
}

/// As [`run`], handing each successful JSON answer to `collect` with its index. Latencies
/// are kept by index, so two phases of one operation can be added up.
pub async fn run_collect<F, G>(
    proc: &Proc,
    c: usize,
    n: usize,
    make: F,
    collect: G,
) -> Result<Outcome>
where
    F: Fn(usize) -> reqwest::RequestBuilder,
    G: Fn(usize, &Value),
{
    let next = AtomicUsize::new(0);
    let latencies = std::sync::Mutex::new(vec![Duration::ZERO; n]);
    let failures = AtomicUsize::new(0);
    let first_failure = std::sync::Mutex::new(None::<String>);
    let (cpu0, db0) = (proc.gateway(), proc.backing());
    let start = Instant::now();
    let worker = || async {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                break;
            }
            let t = Instant::now();
            let outcome = match make(i).send().await {
                Ok(r) => {
                    let status = r.status();
                    let body = r.bytes().await.unwrap_or_default();
                    if status.is_success() || status.is_redirection() {
                        Ok(body)
                    } else {
                        Err(format!("{status}: {}", String::from_utf8_lossy(&body)))
                    }
                }
                Err(e) => Err(e.to_string()),
            };
            let took = t.elapsed();
            match outcome {
                Ok(body) => {
                    latencies.lock().unwrap()[i] = took;
                    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                        collect(i, &v);
                    }
                }
                Err(why) => {
                    failures.fetch_add(1, Ordering::Relaxed);
                    first_failure.lock().unwrap().get_or_insert(why);
                }
            }
        }
    };
    futures_util::future::join_all((0..c).map(|_| worker())).await;
    let wall = start.elapsed();
    let (cpu1, db1) = (proc.gateway(), proc.backing());
    let failed = failures.load(Ordering::Relaxed);
    if let Some(why) = first_failure.lock().unwrap().take() {
        eprintln!("{failed} of {n} requests failed; the first: {why}");
    }
    let mut out = Outcome::from_samples(latencies.into_inner().unwrap(), n - failed, failed, wall);
    out.cpu = cpu1 - cpu0;
    out.db_cpu = db0.zip(db1).map(|(a, b)| b - a);
    Ok(out)
}

/// Signs in on the hosted login page once, following the authorization request, and
/// returns the `Cookie` header of that browser session.
pub async fn browser_session(
    http: &reqwest::Client,
    base: &str,
    api: &str,
    authorize: &str,
    email: &str,
    password: &str,
) -> Result<String> {
    let first = http.get(authorize).send().await?;
    let login = first
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .context("authorize did not redirect to the login page")?
        .to_string();
    let login = if login.starts_with('/') {
        format!("{base}{login}")
    } else {
        login
    };
    let page = http.get(&login).send().await?;
    let mut jar = cookies(page.headers());
    let html = page.text().await?;
    let csrf = hidden(&html, "csrf").context("no csrf field on the login page")?;
    let authz = hidden(&html, "authz").context("no authz field on the login page")?;
    let done = http
        .post(format!("{api}/login"))
        .header("cookie", jar.join("; "))
        .form(&[
            ("csrf", csrf.as_str()),
            ("authz", authz.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await?;
    anyhow::ensure!(
        done.status().is_redirection(),
        "the login page refused the seeded account: {}",
        done.status()
    );
    jar.extend(cookies(done.headers()));
    Ok(jar.join("; "))
}

fn cookies(headers: &reqwest::header::HeaderMap) -> Vec<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next().map(str::to_string))
        .collect()
}

/// The value of the hidden input `name` (plain ASCII values: tokens and handles).
fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}
