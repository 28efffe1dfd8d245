//! Where Redis is: one server (`redis://`), a Redis Cluster (`redis+cluster://`), or a primary
//! that Sentinel names (`redis+sentinel://`). One connection type speaks to all three, so the
//! store above it is written once.
//!
//! - **One server:** a [`ConnectionManager`], reconnecting in the background.
//! - **Cluster:** redis-rs's cluster connection, which follows `MOVED`/`ASK` and re-reads the
//!   slot map after a failover. No command or script of the store touches two keys, so no
//!   command can fail with `CROSSSLOT` whatever the keys hash to.
//! - **Sentinel:** the primary is asked of the sentinels at start and again after any error
//!   that says the connection or the primary's role is gone (refused, dropped, `READONLY`),
//!   never more than once per [`RESOLVE_EVERY`]; a request that meets the error answers
//!   "unavailable", the next ones go to the new primary.

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{Sentinel, SentinelNodeConnectionInfo};
use redis::{Cmd, IntoConnectionInfo, Pipeline, RedisFuture, RedisResult, Value};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A parsed `REDIS_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `redis://[user:pass@]host:port[/db]`.
    Single(String),
    /// `redis+cluster://[user:pass@]host:port[,host:port…]`: any reachable node is enough to
    /// find the rest; every node takes the same credentials.
    Cluster(Vec<String>),
    /// `redis+sentinel://[user:pass@]host:port[,host:port…]/service[/db]`: the sentinels to
    /// ask and the service (master name) to ask for; the credentials are the data nodes'.
    Sentinel {
        sentinels: Vec<String>,
        service: String,
        /// `redis://[user:pass@]sentinel-chosen/db`: how to speak to the primary once found.
        node: String,
    },
}

impl Target {
    /// Parses a `REDIS_URL`. Errors name the problem, never the URL (it may hold a password).
    pub fn parse(url: &str) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or("REDIS_URL has no scheme (redis://, redis+cluster://, redis+sentinel://)")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let hosts: Vec<&str> = hosts.split(',').map(str::trim).collect();
        if hosts.iter().any(|h| h.is_empty()) {
            return Err("REDIS_URL names an empty host".into());
        }
        let node = |host: &str, path: &str| match userinfo {
            Some(u) => format!("redis://{u}@{host}/{path}"),
            None => format!("redis://{host}/{path}"),
        };
        let checked = |u: String| -> Result<String, String> {
            u.as_str()
                .into_connection_info()
                .map(|_| u.clone())
                .map_err(|_| "REDIS_URL has a host, port or database that is not valid".into())
        };
        match scheme {
            "redis" if hosts.len() == 1 => Ok(Self::Single(checked(url.to_string())?)),
            "redis" => Err("REDIS_URL lists several hosts: use redis+cluster:// or \
                 redis+sentinel://"
                .into()),
            "redis+cluster" => {
                if !path.is_empty() {
                    return Err(
                        "a Redis Cluster has only database 0: REDIS_URL takes no path".into(),
                    );
                }
                let nodes = hosts
                    .iter()
                    .map(|h| checked(node(h, "")))
                    .collect::<Result<_, _>>()?;
                Ok(Self::Cluster(nodes))
            }
            "redis+sentinel" => {
                let mut parts = path.split('/');
                let service = parts.next().unwrap_or_default();
                if service.is_empty() {
                    return Err("REDIS_URL names no Sentinel service: \
                                redis+sentinel://host:port/SERVICE[/db]"
                        .into());
                }
                let db = parts.next().unwrap_or("0");
                if parts.next().is_some() || db.parse::<u16>().is_err() {
                    return Err("REDIS_URL's database after the service is not a number".into());
                }
                let sentinels = hosts
                    .iter()
                    .map(|h| checked(format!("redis://{h}/")))
                    .collect::<Result<_, _>>()?;
                Ok(Self::Sentinel {
                    sentinels,
                    service: service.to_string(),
                    node: checked(node("sentinel-chosen", db))?,
                })
            }
            "rediss" | "rediss+cluster" | "rediss+sentinel" => Err(
                "TLS to Redis (rediss://) is not built in: use a TLS proxy such as \
                 stunnel on loopback"
                    .into(),
            ),
            _ => Err("REDIS_URL's scheme is not redis://, redis+cluster:// or \
                      redis+sentinel://"
                .into()),
        }
    }

    /// Whether a primary can fail over to a replica here, so that single-use values are
    /// confirmed on a replica by default (see `GATEHOUSE_REDIS_WAIT_REPLICAS`).
    pub fn has_failover(&self) -> bool {
        !matches!(self, Self::Single(_))
    }

    /// The URL for logs and errors: hosts kept, any password replaced by `***`.
    pub fn redacted(url: &str) -> String {
        let Some((scheme, rest)) = url.split_once("://") else {
            return "<not a URL>".into();
        };
        match rest.split_once('@') {
            Some((userinfo, tail)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{tail}"),
                None => format!("{scheme}://***@{tail}"),
            },
            None => url.to_string(),
        }
    }
}

/// The bound on connecting and on each answer, inside [`super::COMMAND_TIMEOUT`] (which
/// bounds the whole): a primary that hangs fails here first, so the error reaches
/// [`SentinelPrimary::check`] and the sentinels are asked again, instead of the request
/// being dropped at the outer bound with the hung primary still chosen.
const IO_TIMEOUT: Duration = Duration::from_millis(800);

/// The shortest time between two questions to the sentinels.
pub const RESOLVE_EVERY: Duration = Duration::from_millis(250);

/// A connection to one server, a Cluster, or Sentinel's primary. Cheap to clone.
#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(Arc<SentinelPrimary>),
}

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(IO_TIMEOUT)
        .set_response_timeout(IO_TIMEOUT)
        // A few reconnect attempts with short exponential back-off, never waiting more
        // than 500 ms between them; a failed round is retried on the next command.
        .set_number_of_retries(3)
        .set_exponent_base(2)
        .set_factor(50)
        .set_max_delay(500)
}

impl Conn {
    /// Connects to `target`; fails if it cannot be reached now.
    pub async fn connect(target: &Target) -> RedisResult<Self> {
        match target {
            Target::Single(url) => {
                let client = redis::Client::open(url.as_str())?;
                Ok(Self::Single(
                    ConnectionManager::new_with_config(client, manager_config()).await?,
                ))
            }
            Target::Cluster(nodes) => {
                let client = redis::cluster::ClusterClient::builder(nodes.clone())
                    .connection_timeout(IO_TIMEOUT)
                    .response_timeout(IO_TIMEOUT)
                    // Redirections and a slot-map refresh after a failover, briefly: the
                    // request's own bound ends the wait, never these retries.
                    .retries(3)
                    .min_retry_wait(50)
                    .max_retry_wait(300)
                    .build()?;
                Ok(Self::Cluster(client.get_async_connection().await?))
            }
            Target::Sentinel {
                sentinels,
                service,
                node,
            } => {
                let info = node.as_str().into_connection_info()?;
                let primary = Arc::new(SentinelPrimary {
                    sentinel: tokio::sync::Mutex::new(Sentinel::build(sentinels.clone())?),
                    service: service.clone(),
                    node: SentinelNodeConnectionInfo {
                        tls_mode: None,
                        redis_connection_info: Some(info.redis),
                    },
                    current: Mutex::new(None),
                    resolved_at: Mutex::new(None),
                });
                primary.current().await?;
                Ok(Self::Sentinel(primary))
            }
        }
    }

    /// Who the primaries are now: their run ids (one server, Sentinel) or node ids (Cluster).
    /// A new one since the last look is a restart or a failover (see `Watch`).
    pub async fn primaries(&self) -> RedisResult<BTreeSet<String>> {
        let mut c = self.clone();
        match self {
            Self::Cluster(_) => {
                let nodes: String = redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query_async(&mut c)
                    .await?;
                // `<id> <addr> <flags> <primary> <ping> <pong> <epoch> <link> <slot>…`:
                // the primaries that serve slots and are not failed.
                Ok(nodes
                    .lines()
                    .filter_map(|line| {
                        let f: Vec<&str> = line.split_whitespace().collect();
                        let flags = f.get(2)?;
                        let serving = f.len() > 8
                            && flags.split(',').any(|x| x == "master")
                            && !flags.contains("fail");
                        serving.then(|| f[0].to_string())
                    })
                    .collect())
            }
            Self::Single(_) | Self::Sentinel(_) => {
                let info: String = redis::cmd("INFO").arg("server").query_async(&mut c).await?;
                Ok(info
                    .lines()
                    .filter_map(|l| l.strip_prefix("run_id:"))
                    .map(|id| id.trim().to_string())
                    .collect())
            }
        }
    }
}

/// Sentinel's current primary, asked for again when the connection to it fails.
pub struct SentinelPrimary {
    sentinel: tokio::sync::Mutex<Sentinel>,
    service: String,
    node: SentinelNodeConnectionInfo,
    current: Mutex<Option<ConnectionManager>>,
    resolved_at: Mutex<Option<Instant>>,
}

impl SentinelPrimary {
    /// The connection to the primary, asking the sentinels first if there is none.
    async fn current(&self) -> RedisResult<ConnectionManager> {
        if let Some(c) = lock(&self.current).clone() {
            return Ok(c);
        }
        let mut sentinel = self.sentinel.lock().await;
        // Another request may have resolved it while this one waited.
        if let Some(c) = lock(&self.current).clone() {
            return Ok(c);
        }
        {
            let mut at = lock(&self.resolved_at);
            if at.is_some_and(|t| t.elapsed() < RESOLVE_EVERY) {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::MasterDown,
                    "the sentinels were asked for the primary moments ago",
                )));
            }
            *at = Some(Instant::now());
        }
        // Asks each sentinel in turn and checks that the address it names answers `ROLE`
        // as a primary, so a stale sentinel cannot send writes to a replica.
        let client = sentinel
            .async_master_for(&self.service, Some(&self.node))
            .await?;
        let c = ConnectionManager::new_with_config(client, manager_config()).await?;
        *lock(&self.current) = Some(c.clone());
        Ok(c)
    }

    /// Forgets the primary after an error that says it is gone or no longer primary.
    fn check<T>(&self, r: &RedisResult<T>) {
        if let Err(e) = r {
            let gone = e.is_io_error()
                || e.is_connection_dropped()
                || e.is_connection_refusal()
                || e.is_timeout()
                || matches!(
                    e.kind(),
                    redis::ErrorKind::ReadOnly | redis::ErrorKind::MasterDown
                );
            if gone {
                *lock(&self.current) = None;
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
            Self::Sentinel(p) => Box::pin(async move {
                let mut c = p.current().await?;
                let r = c.req_packed_command(cmd).await;
                p.check(&r);
                r
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(cmd, offset, count),
            Self::Cluster(c) => c.req_packed_commands(cmd, offset, count),
            Self::Sentinel(p) => Box::pin(async move {
                let mut c = p.current().await?;
                let r = c.req_packed_commands(cmd, offset, count).await;
                p.check(&r);
                r
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
            Self::Sentinel(p) => p.node.redis_connection_info.as_ref().map_or(0, |i| i.db),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_form() {
        assert_eq!(
            Target::parse("redis://:pw@127.0.0.1:6379/2"),
            Ok(Target::Single("redis://:pw@127.0.0.1:6379/2".into()))
        );
        assert_eq!(
            Target::parse("redis+cluster://u:pw@127.0.0.1:7000, 127.0.0.1:7001"),
            Ok(Target::Cluster(vec![
                "redis://u:pw@127.0.0.1:7000/".into(),
                "redis://u:pw@127.0.0.1:7001/".into()
            ]))
        );
        assert_eq!(
            Target::parse("redis+sentinel://:pw@127.0.0.1:26379,[::1]:26380/cache/3"),
            Ok(Target::Sentinel {
                sentinels: vec![
                    "redis://127.0.0.1:26379/".into(),
                    "redis://[::1]:26380/".into()
                ],
                service: "cache".into(),
                node: "redis://:pw@sentinel-chosen/3".into(),
            })
        );
        assert!(Target::parse("redis+cluster://a:1").unwrap().has_failover());
        assert!(!Target::parse("redis://a:1").unwrap().has_failover());
    }

    #[test]
    fn refuses_what_it_cannot_serve_without_echoing_secrets() {
        for bad in [
            "127.0.0.1:6379",
            "redis://:pw@a:1,b:2",
            "redis+cluster://:pw@a:1/3",
            "redis+cluster://:pw@a:1,,b:2",
            "redis+cluster://:pw@a:notaport",
            "redis+sentinel://:pw@a:1",
            "redis+sentinel://:pw@a:1/svc/x",
            "rediss://:pw@a:1",
            "memcached://:pw@a:1",
        ] {
            let e = Target::parse(bad).expect_err(bad);
            assert!(!e.contains("pw"), "{bad}: {e}");
        }
    }

    #[test]
    fn redacts_passwords_in_every_form() {
        assert_eq!(
            Target::redacted("redis+cluster://u:secret@a:1,b:2"),
            "redis+cluster://u:***@a:1,b:2"
        );
        assert_eq!(
            Target::redacted("redis+sentinel://secret@a:1/s"),
            "redis+sentinel://***@a:1/s"
        );
        assert_eq!(Target::redacted("redis://a:1"), "redis://a:1");
    }
}
