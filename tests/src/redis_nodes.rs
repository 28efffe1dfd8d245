//! Real Redis topologies on loopback ports, started by a test and gone with it: a Redis
//! Cluster (`redis-server --cluster-enabled yes`, joined with `redis-cli --cluster create`) and
//! a primary with a replica watched by Sentinel (`redis-server --sentinel`). Each server keeps
//! nothing on disk but its cluster or sentinel state, in a temporary directory. Faults are
//! real: `SIGSTOP` (a server that stalls), `SIGKILL` (one that dies), and a restart on the same
//! port and state (what a supervisor does).

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// A free loopback port (bound and released: another process could take it in between,
/// which the server's start would then report).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// One `redis-server` process.
pub struct RedisServer {
    pub port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// One plain server on a free port, its state in `dir`.
    pub async fn single(dir: &Path) -> Result<Self> {
        Self::spawn(dir, free_port()?, Vec::new()).await
    }

    /// The process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    async fn spawn(dir: &Path, port: u16, extra: Vec<String>) -> Result<Self> {
        let mut args = vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--logfile".into(),
            dir.join(format!("redis-{port}.log")).display().to_string(),
        ];
        args.extend(extra);
        let mut s = Self {
            port,
            args,
            child: None,
        };
        s.start().await?;
        Ok(s)
    }

    async fn start(&mut self) -> Result<()> {
        self.start_as("redis-server").await
    }

    async fn start_as(&mut self, program: &str) -> Result<()> {
        let child = Command::new(program)
            .args(&self.args)
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("starting {program} on port {}", self.port))?;
        self.child = Some(child);
        let started = Instant::now();
        while self
            .cli(&["PING"])
            .await
            .map(|o| o.trim() != "PONG")
            .unwrap_or(true)
        {
            if started.elapsed() > Duration::from_secs(10) {
                bail!("{program} on port {} did not answer PING", self.port);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Runs `redis-cli -p PORT ARGS…` and returns its output.
    pub async fn cli(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .await?;
        anyhow::ensure!(out.status.success(), "redis-cli {args:?}: {out:?}");
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn pid(&self) -> Result<u32> {
        self.child
            .as_ref()
            .and_then(Child::id)
            .context("the server is not running")
    }

    fn signal(&self, signal: &str) -> Result<()> {
        let status = std::process::Command::new("kill")
            .args([signal, &self.pid()?.to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill {signal}");
        Ok(())
    }

    /// Stalls the server (`SIGSTOP`): connections stay open, nothing is answered.
    pub fn pause(&self) -> Result<()> {
        self.signal("-STOP")
    }

    /// Lets a stalled server go on (`SIGCONT`).
    pub fn resume(&self) -> Result<()> {
        self.signal("-CONT")
    }

    /// Kills the server at once (`SIGKILL`): whatever it had not replicated is lost.
    pub async fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill()?;
            child.wait().await?;
        }
        Ok(())
    }

    /// Starts the server again on its port with its cluster or sentinel state.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill().await?;
        self.start().await
    }

    /// The value of `field` in `INFO section`.
    pub async fn info(&self, section: &str, field: &str) -> Result<String> {
        let info = self.cli(&["INFO", section]).await?;
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .map(|v| v.trim().to_string())
            .with_context(|| format!("INFO {section} has no {field}"))
    }
}

/// Polls `f` every 100 ms until it is true, for at most `within`.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut f: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !f().await {
        if started.elapsed() > within {
            bail!("{what}: not within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// A Redis Cluster of `primaries` primaries with one replica each.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
    _dir: tempfile::TempDir,
}

/// How long a cluster node may be silent before it is failed over: short, for tests.
pub const NODE_TIMEOUT_MS: u64 = 1000;

impl RedisCluster {
    pub async fn start(primaries: usize) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut nodes = Vec::new();
        for _ in 0..primaries * 2 {
            let port = free_port()?;
            let extra = vec![
                "--cluster-enabled".into(),
                "yes".into(),
                "--cluster-config-file".into(),
                format!("nodes-{port}.conf"),
                "--cluster-node-timeout".into(),
                NODE_TIMEOUT_MS.to_string(),
                "--cluster-port".into(),
                free_port()?.to_string(),
            ];
            nodes.push(RedisServer::spawn(dir.path(), port, extra).await?);
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .await?;
        anyhow::ensure!(out.status.success(), "redis-cli --cluster create: {out:?}");
        let cluster = Self { nodes, _dir: dir };
        cluster.wait_ok(Duration::from_secs(20)).await?;
        Ok(cluster)
    }

    /// `redis+cluster://` with every node.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// Waits until every running node says `cluster_state:ok`, every slot is served and every
    /// replica follows its primary.
    pub async fn wait_ok(&self, within: Duration) -> Result<()> {
        eventually("cluster_state:ok on every node", within, || async {
            let running: Vec<&RedisServer> =
                self.nodes.iter().filter(|n| n.child.is_some()).collect();
            let mut following = 0;
            for n in &running {
                let Ok(info) = n.cli(&["CLUSTER", "INFO"]).await else {
                    return false;
                };
                if !info.contains("cluster_state:ok") || !info.contains("cluster_slots_ok:16384") {
                    return false;
                }
                // A replica counts once it has its primary's data and follows it.
                if n.info("replication", "role")
                    .await
                    .is_ok_and(|r| r == "slave")
                    && n.info("replication", "master_link_status")
                        .await
                        .is_ok_and(|s| s == "up")
                {
                    following += 1;
                }
            }
            following == running.len() / 2
        })
        .await
    }

    /// `CLUSTER NODES` as one running node sees it: (node id, port, flags, primary id).
    async fn table(&self) -> Result<Vec<(String, u16, String, String)>> {
        let n = self
            .nodes
            .iter()
            .find(|n| n.child.is_some())
            .context("no node running")?;
        let text = n.cli(&["CLUSTER", "NODES"]).await?;
        Ok(text
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let port = f.get(1)?.split(['@', ':']).nth(1)?.parse().ok()?;
                Some((
                    f[0].into(),
                    port,
                    f.get(2)?.to_string(),
                    f.get(3)?.to_string(),
                ))
            })
            .collect())
    }

    /// The index of the primary that holds a key matching `pattern`.
    pub async fn holder(&self, pattern: &str) -> Result<usize> {
        for (i, n) in self.nodes.iter().enumerate() {
            if n.child.is_none() || n.info("replication", "role").await? != "master" {
                continue;
            }
            let found = n.cli(&["--scan", "--pattern", pattern]).await?;
            if !found.trim().is_empty() {
                return Ok(i);
            }
        }
        bail!("no primary holds a key matching {pattern}")
    }

    /// The index of the replica of the node at `primary`.
    pub async fn replica_of(&self, primary: usize) -> Result<usize> {
        let table = self.table().await?;
        let port = self.nodes[primary].port;
        let id = &table
            .iter()
            .find(|r| r.1 == port)
            .context("the primary is not in CLUSTER NODES")?
            .0;
        let replica = table
            .iter()
            .find(|r| &r.3 == id)
            .context("the primary has no replica")?
            .1;
        self.nodes
            .iter()
            .position(|n| n.port == replica)
            .context("the replica is not one of ours")
    }
}

/// A primary, its replica and one Sentinel (quorum 1) that fails it over after
/// `down-after-milliseconds` of 1 s.
pub struct SentinelSet {
    pub primary: RedisServer,
    pub replica: RedisServer,
    pub sentinel: RedisServer,
    pub service: &'static str,
    _dir: tempfile::TempDir,
}

impl SentinelSet {
    pub async fn start() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let primary = RedisServer::spawn(dir.path(), free_port()?, Vec::new()).await?;
        let replica = RedisServer::spawn(
            dir.path(),
            free_port()?,
            vec![
                "--replicaof".into(),
                "127.0.0.1".into(),
                primary.port.to_string(),
            ],
        )
        .await?;
        let service = "gatehouse-test";
        let conf: PathBuf = dir.path().join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "sentinel monitor {service} 127.0.0.1 {p} 1\n\
                 sentinel down-after-milliseconds {service} 1000\n\
                 sentinel failover-timeout {service} 5000\n\
                 sentinel parallel-syncs {service} 1\n",
                p = primary.port
            ),
        )?;
        let sentinel_port = free_port()?;
        let mut sentinel = RedisServer {
            port: sentinel_port,
            args: vec![
                conf.display().to_string(),
                "--sentinel".into(),
                "--port".into(),
                sentinel_port.to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--dir".into(),
                dir.path().display().to_string(),
                "--logfile".into(),
                dir.path().join("sentinel.log").display().to_string(),
            ],
            child: None,
        };
        sentinel.start_as("redis-server").await?;
        let set = Self {
            primary,
            replica,
            sentinel,
            service,
            _dir: dir,
        };
        eventually("the replica in sync", Duration::from_secs(15), || async {
            set.replica
                .info("replication", "master_link_status")
                .await
                .is_ok_and(|s| s == "up")
        })
        .await?;
        Ok(set)
    }

    /// `redis+sentinel://` naming the sentinel and the service.
    pub fn url(&self) -> String {
        format!(
            "redis+sentinel://127.0.0.1:{}/{}",
            self.sentinel.port, self.service
        )
    }

    /// The port of the primary the sentinel names now.
    pub async fn named_primary(&self) -> Result<u16> {
        let out = self
            .sentinel
            .cli(&["SENTINEL", "get-master-addr-by-name", self.service])
            .await?;
        out.lines()
            .nth(1)
            .and_then(|p| p.trim().parse().ok())
            .context("the sentinel names no primary")
    }
}
