//! HAProxy in front of gateway instances on loopback ports, for the e2e tests and the scale
//! harness: round robin per request, `/readyz` checked every 500 ms, a connection that fails
//! retried on another instance (never a request that was sent). Debian's `haproxy`
//! (`scripts/install-test-clients` installs it).

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running HAProxy; stopped when dropped.
pub struct Balancer {
    child: Child,
}

impl Balancer {
    pub async fn start(dir: &Path, backends: &[u16], port: u16) -> Result<Self> {
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, p)| format!("  server g{i} 127.0.0.1:{p} check\n"))
            .collect();
        let config = format!(
            "global\n  maxconn 8192\n\
             defaults\n  mode http\n  timeout connect 1s\n  timeout client 35s\n  timeout server 35s\n\
             \x20 option http-keep-alive\n  retries 2\n  retry-on conn-failure\n  option redispatch\n\
             frontend fe\n  bind 127.0.0.1:{port}\n  default_backend gw\n\
             backend gw\n  balance roundrobin\n  option httpchk GET /readyz\n\
             \x20 http-check expect status 200\n  default-server inter 500ms fall 2 rise 2\n{servers}"
        );
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config)?;
        let child = Command::new("haproxy")
            .arg("-f")
            .arg(&path)
            .arg("-db")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting haproxy (scripts/scale installs it)")?;
        let lb = Self { child };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        while http
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .map(|r| !r.status().is_success())
            .unwrap_or(true)
        {
            if Instant::now() > deadline {
                bail!("haproxy did not pass a ready instance within 15 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(lb)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
