//! Configuration: one TOML file (`--config`) with `GATEHOUSE_*` environment variables over
//! it; with neither, the embedded default (SQLite in the data directory, in-process stores,
//! mail to the log, a generated master key beside the database).

use accounts::secret::Secret;

use crate::storage::S3Settings;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

/// The file's shape: every key optional, named like the variables without the prefix.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_read_url: Option<String>,
    redis_url: Option<String>,
    redis_wait_replicas: Option<u32>,
    max_in_flight: Option<usize>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
    master_key: Option<String>,
    admin_token: Option<String>,
    metrics_token: Option<String>,
    trust_proxy: Option<bool>,
    mail_poll_ms: Option<u64>,
    retention_days: Option<u64>,
    audit_retention_days: Option<u64>,
    rpc_urls: Option<String>,
    rpc_timeout_ms: Option<u64>,
    federation_timeout_ms: Option<u64>,
    pwned_url: Option<String>,
    pwned_timeout_ms: Option<u64>,
    pwned_fail: Option<String>,
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
    s3_bucket: Option<String>,
    s3_access_key_id: Option<String>,
    s3_secret_access_key: Option<String>,
    s3_path_style: Option<bool>,
}

/// The resolved configuration. Its `Debug` hides the credentials a URL may carry.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub public_url: Url,
    pub data_dir: PathBuf,
    pub database_url: String,
    /// A PostgreSQL replica for listings that may lag (`GATEHOUSE_DATABASE_READ_URL`).
    pub database_read_url: Option<String>,
    pub redis_url: Option<String>,
    /// Replicas that must confirm a Redis write that consumes or counts (`WAIT`): `None`
    /// takes 1 for Cluster and Sentinel, 0 for one server.
    pub redis_wait_replicas: Option<u32>,
    pub smtp_url: Option<Secret>,
    pub smtp_from: String,
    pub master_key: Option<Secret>,
    pub admin_token: Option<Secret>,
    /// Bearer token `/metrics` asks for (`GATEHOUSE_METRICS_TOKEN`); none: open to anyone
    /// who reaches the listener.
    pub metrics_token: Option<Secret>,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_proxy: bool,
    /// How often the mail worker polls the outbox, besides being woken on new mail.
    pub mail_poll_ms: u64,
    /// Days expired sessions, codes, undo links, unconfirmed sign-ups and sent mail are kept
    /// before the periodic purge deletes them (`GATEHOUSE_RETENTION_DAYS`, default 7).
    pub retention_days: u64,
    /// Days audit events are kept (`GATEHOUSE_AUDIT_RETENTION_DAYS`, default 365; 0 keeps
    /// them forever).
    pub audit_retention_days: u64,
    /// Concurrent argon2 hashes; defaults to the core count.
    pub hash_concurrency: usize,
    /// Requests this instance works on at once (health and metrics aside); past it a request
    /// is answered 503 `overloaded` at once.
    pub max_in_flight: usize,
    /// JSON-RPC endpoint per chain id (`GATEHOUSE_RPC_URLS`). The URLs may carry API keys,
    /// so they are secrets.
    pub rpc_urls: Vec<(u64, Secret)>,
    /// Timeout of each JSON-RPC call (`GATEHOUSE_RPC_TIMEOUT_MS`, default 5000).
    pub rpc_timeout_ms: u64,
    /// Timeout of each call to an upstream IdP (`GATEHOUSE_FEDERATION_TIMEOUT_MS`, default
    /// 5000).
    pub federation_timeout_ms: u64,
    /// The S3-compatible store for storage credentials (`GATEHOUSE_S3_*`); none: storage off.
    pub s3: Option<S3Settings>,
    /// The breach corpus: a range API in the Have I Been Pwned format (`GATEHOUSE_PWNED_URL`,
    /// e.g. `https://api.pwnedpasswords.com/range/`; the 5-character prefix is appended).
    /// None: only the built-in list of common passwords.
    pub pwned: Option<PwnedSettings>,
}

/// How the breach corpus is asked.
#[derive(Clone, Debug)]
pub struct PwnedSettings {
    pub url: Url,
    /// Per request (`GATEHOUSE_PWNED_TIMEOUT_MS`, default 2000).
    pub timeout_ms: u64,
    /// `GATEHOUSE_PWNED_FAIL=closed`: when the corpus cannot be asked, new passwords and
    /// sign-ins that would be checked are refused with 503; `open` (the default): they go
    /// through unchecked, and a warning is logged.
    pub fail_closed: bool,
}

/// A boolean setting: `true`/`false`, `1`/`0`, `yes`/`no` (any case); anything else is an
/// error that names the setting, never a silent `false`.
fn parse_bool(name: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ConfigError::Invalid(
            name,
            format!("{v:?}: expected true or false (also 1/0, yes/no)"),
        )),
    }
}

/// The breach corpus's settings: an https URL (http only to loopback, for tests), a timeout
/// of 100 ms to 30 s, and `open` or `closed`.
fn parse_pwned(
    url: Option<String>,
    timeout_ms: Option<u64>,
    fail: Option<String>,
) -> Result<Option<PwnedSettings>, ConfigError> {
    let fail_closed = match fail.as_deref().map(str::trim) {
        None | Some("") | Some("open") => false,
        Some("closed") => true,
        Some(other) => {
            return Err(ConfigError::Invalid(
                "GATEHOUSE_PWNED_FAIL",
                format!("{other:?}: expected open or closed"),
            ));
        }
    };
    let Some(raw) = url.filter(|u| !u.trim().is_empty()) else {
        return Ok(None);
    };
    let bad = || {
        ConfigError::Invalid(
            "GATEHOUSE_PWNED_URL",
            format!("{raw:?}: expected an https URL"),
        )
    };
    let url = Url::parse(raw.trim()).map_err(|_| bad())?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) || url.query().is_some() {
        return Err(bad());
    }
    Ok(Some(PwnedSettings {
        url,
        timeout_ms: timeout_ms.unwrap_or(2000).clamp(100, 30_000),
        fail_closed,
    }))
}

/// A URL with its password (if any) replaced, for logs and `Debug`.
/// Requests in flight per instance by default: a sign-in takes about a millisecond of CPU, so
/// on a few cores 512 queued requests wait well under a second before they are worked on.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 512;

pub fn redacted(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<not a URL>".to_string(),
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url.as_str())
            .field("data_dir", &self.data_dir)
            .field("database_url", &redacted(&self.database_url))
            .field(
                "database_read_url",
                &self.database_read_url.as_deref().map(redacted),
            )
            .field(
                "redis_url",
                &self
                    .redis_url
                    .as_deref()
                    .map(crate::ephemeral::topology::Target::redacted),
            )
            .field("redis_wait_replicas", &self.redis_wait_replicas)
            .field("smtp_url", &self.smtp_url)
            .field("smtp_from", &self.smtp_from)
            .field("master_key", &self.master_key)
            .field("admin_token", &self.admin_token)
            .field("metrics_token", &self.metrics_token)
            .field("trust_proxy", &self.trust_proxy)
            .field("mail_poll_ms", &self.mail_poll_ms)
            .field("retention_days", &self.retention_days)
            .field("audit_retention_days", &self.audit_retention_days)
            .field("hash_concurrency", &self.hash_concurrency)
            .field("max_in_flight", &self.max_in_flight)
            .field("rpc_urls", &self.rpc_urls)
            .field("rpc_timeout_ms", &self.rpc_timeout_ms)
            .field("federation_timeout_ms", &self.federation_timeout_ms)
            .field("s3", &self.s3)
            .field("pwned", &self.pwned)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("invalid config file: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("{0} is not valid: {1}")]
    Invalid(&'static str, String),
}

impl Config {
    /// Reads the file (if any), then the environment over it.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let fc: FileConfig = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError::Read(p.to_path_buf(), e))?;
                toml::from_str(&text)?
            }
            None => FileConfig::default(),
        };
        let var = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        let listen_s = var("GATEHOUSE_LISTEN")
            .or(fc.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = parse_listen(&listen_s)?;
        let public_s = var("GATEHOUSE_PUBLIC_URL")
            .or(fc.public_url)
            .unwrap_or_else(|| format!("http://{listen}"));
        let public_url = parse_public_url(&public_s)?;
        let data_dir = var("GATEHOUSE_DATA_DIR")
            .map(PathBuf::from)
            .or(fc.data_dir)
            .unwrap_or_else(|| "gatehouse-data".into());
        let database_url = var("DATABASE_URL")
            .or(fc.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("gatehouse.db").display()));
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| database_url.starts_with(p))
        {
            return Err(ConfigError::Invalid(
                "DATABASE_URL",
                format!(
                    "{:?}: expected sqlite://PATH (the default) or postgres://USER:PASSWORD@HOST/DB",
                    redacted(&database_url)
                ),
            ));
        }
        let database_read_url = var("GATEHOUSE_DATABASE_READ_URL").or(fc.database_read_url);
        if let Some(read) = &database_read_url {
            let postgres = |u: &str| u.starts_with("postgres://") || u.starts_with("postgresql://");
            if !postgres(read) || !postgres(&database_url) {
                return Err(ConfigError::Invalid(
                    "GATEHOUSE_DATABASE_READ_URL",
                    format!(
                        "{}: a read replica is a postgres:// URL, beside a postgres:// DATABASE_URL",
                        redacted(read)
                    ),
                ));
            }
        }
        let redis_url = var("REDIS_URL").or(fc.redis_url);
        if let Some(url) = &redis_url {
            crate::ephemeral::topology::Target::parse(url)
                .map_err(|why| ConfigError::Invalid("REDIS_URL", why))?;
        }
        let redis_wait_replicas = match var("GATEHOUSE_REDIS_WAIT_REPLICAS") {
            Some(v) => Some(v.parse().map_err(|_| {
                ConfigError::Invalid(
                    "GATEHOUSE_REDIS_WAIT_REPLICAS",
                    format!("{v:?}: expected a whole number of replicas"),
                )
            })?),
            None => fc.redis_wait_replicas,
        };
        let max_in_flight = match var("GATEHOUSE_MAX_IN_FLIGHT") {
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| {
                    ConfigError::Invalid(
                        "GATEHOUSE_MAX_IN_FLIGHT",
                        format!("{v:?}: expected a number of requests from 1 to 1000000"),
                    )
                })?,
            None => fc.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT),
        };
        let mail_poll_ms = match var("GATEHOUSE_MAIL_POLL_MS") {
            Some(v) => v
                .parse()
                .map_err(|_| ConfigError::Invalid("GATEHOUSE_MAIL_POLL_MS", v))?,
            None => fc.mail_poll_ms.unwrap_or(1000),
        };
        let days = |name: &'static str, file: Option<u64>, default: u64| match var(name) {
            Some(v) => v.parse().map_err(|_| {
                ConfigError::Invalid(name, format!("{v:?}: expected a whole number of days"))
            }),
            None => Ok(file.unwrap_or(default)),
        };
        let retention_days = days("GATEHOUSE_RETENTION_DAYS", fc.retention_days, 7)?;
        let audit_retention_days = days(
            "GATEHOUSE_AUDIT_RETENTION_DAYS",
            fc.audit_retention_days,
            365,
        )?;
        let rpc_timeout_ms = match var("GATEHOUSE_RPC_TIMEOUT_MS") {
            Some(v) => v
                .parse()
                .map_err(|_| ConfigError::Invalid("GATEHOUSE_RPC_TIMEOUT_MS", v))?,
            None => fc.rpc_timeout_ms.unwrap_or(5000),
        };
        let federation_timeout_ms = match var("GATEHOUSE_FEDERATION_TIMEOUT_MS") {
            Some(v) => v
                .parse()
                .map_err(|_| ConfigError::Invalid("GATEHOUSE_FEDERATION_TIMEOUT_MS", v))?,
            None => fc.federation_timeout_ms.unwrap_or(5000),
        };
        let pwned = parse_pwned(
            var("GATEHOUSE_PWNED_URL").or(fc.pwned_url),
            match var("GATEHOUSE_PWNED_TIMEOUT_MS") {
                Some(v) => Some(
                    v.parse()
                        .map_err(|_| ConfigError::Invalid("GATEHOUSE_PWNED_TIMEOUT_MS", v))?,
                ),
                None => fc.pwned_timeout_ms,
            },
            var("GATEHOUSE_PWNED_FAIL").or(fc.pwned_fail),
        )?;
        let trust_proxy = match var("GATEHOUSE_TRUST_PROXY") {
            Some(v) => parse_bool("GATEHOUSE_TRUST_PROXY", &v)?,
            None => fc.trust_proxy.unwrap_or(false),
        };
        let smtp_from = var("GATEHOUSE_SMTP_FROM")
            .or(fc.smtp_from)
            .unwrap_or_else(|| {
                format!(
                    "Gatehouse <no-reply@{}>",
                    public_url.host_str().unwrap_or("localhost")
                )
            });
        let s3 = parse_s3(
            var("GATEHOUSE_S3_ENDPOINT").or(fc.s3_endpoint),
            var("GATEHOUSE_S3_REGION").or(fc.s3_region),
            var("GATEHOUSE_S3_BUCKET").or(fc.s3_bucket),
            var("GATEHOUSE_S3_ACCESS_KEY_ID").or(fc.s3_access_key_id),
            var("GATEHOUSE_S3_SECRET_ACCESS_KEY").or(fc.s3_secret_access_key),
            match var("GATEHOUSE_S3_PATH_STYLE") {
                Some(v) => parse_bool("GATEHOUSE_S3_PATH_STYLE", &v)?,
                None => fc.s3_path_style.unwrap_or(true),
            },
        )?;
        Ok(Self {
            listen,
            public_url,
            data_dir,
            database_url,
            database_read_url,
            redis_url,
            redis_wait_replicas,
            smtp_url: var("GATEHOUSE_SMTP_URL").or(fc.smtp_url).map(Secret::new),
            smtp_from,
            master_key: var("GATEHOUSE_MASTER_KEY")
                .or(fc.master_key)
                .map(Secret::new),
            admin_token: var("GATEHOUSE_ADMIN_TOKEN")
                .or(fc.admin_token)
                .map(Secret::new),
            metrics_token: var("GATEHOUSE_METRICS_TOKEN")
                .or(fc.metrics_token)
                .map(Secret::new),
            trust_proxy,
            mail_poll_ms: mail_poll_ms.max(10),
            retention_days: retention_days.max(1),
            audit_retention_days,
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_in_flight,
            rpc_urls: parse_rpc_urls(
                var("GATEHOUSE_RPC_URLS")
                    .or(fc.rpc_urls)
                    .as_deref()
                    .unwrap_or(""),
            )?,
            rpc_timeout_ms: rpc_timeout_ms.clamp(100, 60_000),
            federation_timeout_ms: federation_timeout_ms.clamp(100, 30_000),
            s3,
            pwned,
        })
    }

    /// The issuer of a pool: `{PUBLIC_URL}/pools/{pool}`.
    pub fn issuer(&self, pool: &str) -> String {
        format!(
            "{}/pools/{pool}",
            self.public_url.as_str().trim_end_matches('/')
        )
    }

    /// Whether cookies and HSTS may assume HTTPS.
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

/// The store settings: all four of endpoint, bucket and key pair, or none (storage off).
fn parse_s3(
    endpoint: Option<String>,
    region: Option<String>,
    bucket: Option<String>,
    access_key_id: Option<String>,
    secret: Option<String>,
    path_style: bool,
) -> Result<Option<S3Settings>, ConfigError> {
    let (endpoint, bucket, access_key_id, secret) = match (endpoint, bucket, access_key_id, secret)
    {
        (Some(e), Some(b), Some(a), Some(s)) => (e, b, a, s),
        (None, None, None, None) => return Ok(None),
        _ => {
            return Err(ConfigError::Invalid(
                "GATEHOUSE_S3_*",
                "set all of GATEHOUSE_S3_ENDPOINT, _BUCKET, _ACCESS_KEY_ID and _SECRET_ACCESS_KEY, or none".into(),
            ));
        }
    };
    let endpoint = Url::parse(&endpoint)
        .ok()
        .filter(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && u.username().is_empty()
                && u.password().is_none()
                && u.query().is_none()
                && u.fragment().is_none()
                && !u.path().contains('%')
        })
        .ok_or_else(|| {
            ConfigError::Invalid(
                "GATEHOUSE_S3_ENDPOINT",
                "an http(s) URL without credentials, query or encoded path".into(),
            )
        })?;
    let region = region.unwrap_or_else(|| "us-east-1".into());
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(ConfigError::Invalid("GATEHOUSE_S3_REGION", region));
    }
    Ok(Some(S3Settings {
        endpoint,
        region,
        bucket,
        access_key_id,
        secret_access_key: Secret::new(secret),
        path_style,
    }))
}

/// `1=https://…,31337=http://127.0.0.1:8545`: chain id, `=`, an http(s) URL; comma-separated.
fn parse_rpc_urls(s: &str) -> Result<Vec<(u64, Secret)>, ConfigError> {
    let bad = |why: String| ConfigError::Invalid("GATEHOUSE_RPC_URLS", why);
    let mut out: Vec<(u64, Secret)> = Vec::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (chain, url) = entry
            .split_once('=')
            .ok_or_else(|| bad("each entry is CHAIN_ID=URL".into()))?;
        let chain: u64 = chain
            .trim()
            .parse()
            .map_err(|_| bad(format!("{chain:?} is not a chain id")))?;
        let parsed = Url::parse(url.trim())
            .map_err(|_| bad(format!("the URL for chain {chain} is not valid")))?;
        if !matches!(parsed.scheme(), "http" | "https") || out.iter().any(|(c, _)| *c == chain) {
            return Err(bad(format!(
                "chain {chain}: an http(s) URL, once per chain"
            )));
        }
        out.push((chain, Secret::new(url.trim())));
    }
    Ok(out)
}

/// `GATEHOUSE_LISTEN`: an IP address and port (`localhost` stands for 127.0.0.1). A bare
/// port or a host name is refused with the shape expected and a likely fix.
fn parse_listen(s: &str) -> Result<SocketAddr, ConfigError> {
    let s = s.trim();
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Some(port) = s.strip_prefix("localhost:")
        && let Ok(port) = port.parse::<u16>()
    {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    let hint = match s.parse::<u16>() {
        Ok(port) => format!(
            " (for port {port} on this machine only: 127.0.0.1:{port}; on every interface: 0.0.0.0:{port})"
        ),
        Err(_) => String::new(),
    };
    Err(ConfigError::Invalid(
        "GATEHOUSE_LISTEN",
        format!("{s:?}: expected IP:PORT such as 127.0.0.1:8080{hint}"),
    ))
}

fn parse_public_url(s: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(s).map_err(|e| {
        ConfigError::Invalid(
            "GATEHOUSE_PUBLIC_URL",
            format!(
                "{s:?} ({e}): expected an absolute URL such as http://127.0.0.1:8080 or https://id.example.com{}",
                if s.contains("://") { String::new() } else { format!("; with the scheme: http://{s}") }
            ),
        )
    })?;
    let ok = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty();
    if !ok {
        return Err(ConfigError::Invalid(
            "GATEHOUSE_PUBLIC_URL",
            "an http(s) URL without query or credentials".into(),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests;
