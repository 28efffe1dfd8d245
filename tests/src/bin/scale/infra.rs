//! What the scale harness starts on loopback ports, and stops with itself: a PostgreSQL
//! cluster of its own (`initdb`/`pg_ctl`, so the machine's server is never touched), Redis,
//! N gateway instances and HAProxy in front of them.

use anyhow::{Context, Result, bail};
use gatehouse_tests::redis_nodes::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// PostgreSQL's programs (Debian keeps them out of `PATH`).
fn pg_bin(name: &str) -> Result<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL's programs (/usr/lib/postgresql)")?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin").join(name)))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found
        .pop()
        .with_context(|| format!("no {name} under /usr/lib/postgresql"))
}

/// Runs a PostgreSQL program as the `postgres` user when this process is root (initdb and
/// the server refuse to run as root).
fn as_postgres(program: &Path) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Debian's libfaketime (`scripts/scale` installs it).
pub fn libfaketime() -> Result<String> {
    for dir in [
        "/usr/lib/x86_64-linux-gnu/faketime",
        "/usr/lib/aarch64-linux-gnu/faketime",
    ] {
        let lib = Path::new(dir).join("libfaketime.so.1");
        if lib.exists() {
            return Ok(lib.display().to_string());
        }
    }
    bail!("libfaketime is not installed (scripts/scale installs it)")
}

/// A PostgreSQL cluster in a directory of its own.
pub struct Postgres {
    dir: PathBuf,
    pub port: u16,
}

impl Postgres {
    pub fn start(root: &Path) -> Result<Self> {
        let dir = root.join("pg");
        std::fs::create_dir_all(&dir)?;
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(root)
            .status();
        let out = as_postgres(&pg_bin("initdb")?)
            .args(["-D"])
            .arg(&dir)
            .args(["-A", "trust", "-U", "postgres", "--no-sync"])
            .output()?;
        anyhow::ensure!(out.status.success(), "initdb: {out:?}");
        let pg = Self {
            dir,
            port: free_port()?,
        };
        pg.ctl(&["start", "-w"])?;
        Ok(pg)
    }

    fn ctl(&self, action: &[&str]) -> Result<()> {
        // `fsync=off` survives the crash this harness injects (a killed server, the machine
        // up); `synchronous_commit` stays on: off, a crash loses commits already
        // acknowledged, and the invariants catch it (a 2xx sign-in without its session).
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off \
             -c max_connections=300",
            self.port,
            self.dir.display()
        );
        let out = as_postgres(&pg_bin("pg_ctl")?)
            .arg("-D")
            .arg(&self.dir)
            .args(["-l"])
            .arg(self.dir.join("server.log"))
            .args(["-o", &options])
            .args(action)
            .output()?;
        anyhow::ensure!(out.status.success(), "pg_ctl {action:?}: {out:?}");
        Ok(())
    }

    /// A crash and a restart: every connection cut, uncommitted work lost.
    pub fn restart(&self) -> Result<()> {
        self.ctl(&["restart", "-m", "immediate", "-w"])
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.ctl(&["stop", "-m", "immediate"]);
    }
}

/// One gateway instance.
pub struct Instance {
    pub port: u16,
    child: Option<Child>,
    env: Vec<(String, String)>,
    binary: PathBuf,
    /// CPU seconds of the lives before the current one (after a kill and a restart).
    pub cpu_before: f64,
}

impl Instance {
    pub fn new(binary: &Path, env: &[(String, String)], data: &Path) -> Result<Self> {
        let port = free_port()?;
        let mut env = env.to_vec();
        env.push(("GATEHOUSE_LISTEN".into(), format!("127.0.0.1:{port}")));
        env.push(("GATEHOUSE_DATA_DIR".into(), data.display().to_string()));
        Ok(Self {
            port,
            child: None,
            env,
            binary: binary.to_path_buf(),
            cpu_before: 0.0,
        })
    }

    /// Sets `key` for the next start.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    pub fn spawn(&mut self) -> Result<()> {
        let child = Command::new(&self.binary)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    pub async fn ready(&self, within: Duration) -> Result<()> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + within;
        loop {
            if let Ok(r) = http
                .get(format!("http://127.0.0.1:{}/readyz", self.port))
                .send()
                .await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("instance on port {} not ready within {within:?}", self.port);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `kill -9`: in-flight requests die with it.
    pub fn kill(&mut self) -> Result<()> {
        self.cpu_before += self.cpu();
        if let Some(mut c) = self.child.take() {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    /// CPU seconds of the current life.
    pub fn cpu(&self) -> f64 {
        self.pid().map_or(0.0, crate::cpu_of_pid)
    }

    /// Resident memory in KiB and open file descriptors, now.
    pub fn footprint(&self) -> Option<(u64, usize)> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
        Some((rss, fds))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
