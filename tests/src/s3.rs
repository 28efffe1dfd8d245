//! A real S3-compatible server that checks SigV4 signatures: `s3s-fs` (installed by
//! `scripts/install-test-clients` with `cargo install`), started on a free loopback port
//! over a temporary folder, with one bucket.

use anyhow::{Context, Result};
use gateway::storage::S3Settings;
use std::path::PathBuf;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const BUCKET: &str = "gatehouse-test";
const ACCESS_KEY: &str = "gatehouse-test-access";
const SECRET_KEY: &str = "gatehouse-test-secret-key-0123456789";

/// A running s3s-fs; killed when dropped.
pub struct S3Server {
    pub endpoint: String,
    /// The data folder: a bucket is a folder, an object a file.
    pub root: tempfile::TempDir,
    _child: Child,
}

fn binary() -> Result<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("no CARGO_HOME or HOME")?;
    let path = cargo_home.join("bin/s3s-fs");
    anyhow::ensure!(
        path.is_file(),
        "{} is missing: run scripts/install-test-clients",
        path.display()
    );
    Ok(path)
}

impl S3Server {
    pub async fn start() -> Result<S3Server> {
        let root = tempfile::tempdir()?;
        std::fs::create_dir(root.path().join(BUCKET))?;
        let mut child = Command::new(binary()?)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("start s3s-fs")?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let endpoint = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(i) = line.find("http://127.0.0.1:") {
                    let addr: String = line[i..]
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '\u{1b}')
                        .collect();
                    return Ok::<_, anyhow::Error>(addr);
                }
            }
            anyhow::bail!("s3s-fs exited before listening")
        })
        .await
        .context("s3s-fs did not start in 30 s")??;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(S3Server {
            endpoint,
            root,
            _child: child,
        })
    }

    /// The gateway's settings for this server (path-style).
    pub fn settings(&self) -> S3Settings {
        S3Settings {
            endpoint: self.endpoint.parse().expect("endpoint URL"),
            region: "us-east-1".into(),
            bucket: BUCKET.into(),
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: accounts::secret::Secret::new(SECRET_KEY),
            path_style: true,
        }
    }

    /// The stored bytes of `key`, straight from the data folder.
    pub fn object(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root.path().join(BUCKET).join(key)).ok()
    }
}
