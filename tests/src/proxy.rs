//! A TCP proxy on a loopback port that a test can take down and bring back, to cut the
//! gateway off from a real backing service (Redis) without touching the service itself.

use anyhow::{Context, Result};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forwards to the upstream.
    Up,
    /// Closes every connection, new ones at once (a crashed service).
    Down,
    /// Accepts connections and never answers (a hung service, or dropped packets).
    Hang,
}

pub struct Proxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Proxies to the host and port of `upstream_url` (e.g. `redis://127.0.0.1:6379`).
    pub async fn start(upstream_url: &str) -> Result<Self> {
        let url = url::Url::parse(upstream_url)?;
        let upstream = format!(
            "{}:{}",
            url.host_str().context("upstream host")?,
            url.port().unwrap_or(6379)
        );
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (mode, rx) = watch::channel(Mode::Up);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let now = *rx.borrow();
                let mut rx = rx.clone();
                let upstream = upstream.clone();
                match now {
                    Mode::Down => drop(client),
                    Mode::Hang => {
                        tokio::spawn(async move {
                            let _held = client;
                            let _ = rx.wait_for(|m| *m != Mode::Hang).await;
                        });
                    }
                    Mode::Up => {
                        tokio::spawn(async move {
                            let Ok(mut server) = TcpStream::connect(&upstream).await else {
                                return;
                            };
                            let mut client = client;
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                _ = rx.wait_for(|m| *m != Mode::Up) => {}
                            }
                        });
                    }
                }
            }
        });
        Ok(Self { port, mode, task })
    }

    /// `upstream_url` with its host and port replaced by the proxy's.
    pub fn url(&self, upstream_url: &str) -> Result<String> {
        let mut url = url::Url::parse(upstream_url)?;
        url.set_host(Some("127.0.0.1"))?;
        url.set_port(Some(self.port))
            .map_err(|_| anyhow::anyhow!("cannot set the port"))?;
        Ok(url.to_string())
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
