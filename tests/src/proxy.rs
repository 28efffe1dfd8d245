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
    /// Forwards, holding every answer back this long (a slow or distant service).
    Slow(std::time::Duration),
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
                    Mode::Up | Mode::Slow(_) => {
                        tokio::spawn(async move {
                            let Ok(server) = TcpStream::connect(&upstream).await else {
                                return;
                            };
                            tokio::select! {
                                _ = forward(client, server, rx.clone()) => {}
                                _ = rx.wait_for(|m| matches!(m, Mode::Down | Mode::Hang)) => {}
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

/// Copies both ways; each chunk from the server waits for the mode's delay first, read
/// when the chunk arrives (so a proxy can turn slow, and fast again, under open connections).
async fn forward(client: TcpStream, server: TcpStream, rx: watch::Receiver<Mode>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = tokio::io::copy(&mut client_read, &mut server_write);
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = server_read.read(&mut buf).await?;
            if n == 0 {
                return std::io::Result::Ok(());
            }
            let delay = match *rx.borrow() {
                Mode::Slow(d) => d,
                _ => std::time::Duration::ZERO,
            };
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            client_write.write_all(&buf[..n]).await?;
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
