//! Ephemeral state: SIWE nonces, rate counters, authorization codes and challenges. One trait,
//! an in-process implementation for a single instance and a Redis one for many instances
//! sharing state. Every read that consumes is atomic (`GETDEL`), never read-then-write.

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use accounts::Error;

#[async_trait]
pub trait Ephemeral: Send + Sync {
    /// Stores `value` under `key` for `ttl`, only if the key is absent. True when stored.
    async fn put_new(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, Error>;
    /// Removes and returns the value, atomically: two callers never both get it.
    async fn take(&self, key: &str) -> Result<Option<String>, Error>;
    /// Reads the value and leaves it (pending authorization requests, read on each try).
    async fn get(&self, key: &str) -> Result<Option<String>, Error>;
    /// Counts one hit on each key, in a fixed window per key that starts at its first hit,
    /// and returns the new counts: increment first, decide on the returned value, so no
    /// number of parallel requests gets past a limit. One round trip where the store allows.
    async fn hits(&self, keys: &[(&str, Duration)]) -> Result<Vec<u64>, Error>;
    /// Takes back one hit from each key (never below zero): a reserved attempt that turned
    /// out not to count.
    async fn unhit(&self, keys: &[&str]) -> Result<(), Error>;
    /// Counts one hit; returns the count (see [`Ephemeral::hits`]).
    async fn hit(&self, key: &str, window: Duration) -> Result<u64, Error> {
        Ok(self
            .hits(&[(key, window)])
            .await?
            .first()
            .copied()
            .unwrap_or(u64::MAX))
    }
    /// Counts a hit on `counter` (see [`Ephemeral::hits`]) and, when the count is at most
    /// `max`, takes `key` (see [`Ephemeral::take`]): one round trip where the store allows.
    /// Past `max`, nothing is taken.
    async fn hit_and_take(
        &self,
        counter: (&str, Duration),
        max: u64,
        key: &str,
    ) -> Result<(u64, Option<String>), Error> {
        let n = self.hit(counter.0, counter.1).await?;
        if n > max {
            return Ok((n, None));
        }
        Ok((n, self.take(key).await?))
    }
    /// Counts a hit on `counter` and, when the count is at most `max`, stores `value` under
    /// `key` if absent (see [`Ephemeral::put_new`]): one round trip where the store allows.
    async fn hit_and_put_new(
        &self,
        counter: (&str, Duration),
        max: u64,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<(u64, bool), Error> {
        let n = self.hit(counter.0, counter.1).await?;
        if n > max {
            return Ok((n, false));
        }
        Ok((n, self.put_new(key, value, ttl).await?))
    }
    async fn delete(&self, key: &str) -> Result<(), Error>;
    /// Readiness check.
    async fn ping(&self) -> Result<(), Error>;
}

/// In-process store for a single gateway instance.
#[derive(Default)]
pub struct MemoryEphemeral {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, (String, Instant)>,
    /// Size after the last sweep: the next sweep waits until the map has doubled, so
    /// sweeping stays amortised O(1) per call however many keys are live.
    swept_at: usize,
}

impl MemoryEphemeral {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, (String, Instant)>) -> T) -> T {
        let mut entries = match self.entries.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if entries.map.len() > 1024.max(2 * entries.swept_at) {
            let now = Instant::now();
            entries.map.retain(|_, (_, exp)| *exp > now);
            entries.swept_at = entries.map.len();
        }
        f(&mut entries.map)
    }
}

#[async_trait]
impl Ephemeral for MemoryEphemeral {
    async fn put_new(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, Error> {
        let now = Instant::now();
        Ok(self.with(|m| match m.get(key) {
            Some((_, exp)) if *exp > now => false,
            _ => {
                m.insert(key.to_string(), (value.to_string(), now + ttl));
                true
            }
        }))
    }

    async fn take(&self, key: &str) -> Result<Option<String>, Error> {
        let now = Instant::now();
        Ok(self.with(|m| m.remove(key).filter(|(_, exp)| *exp > now).map(|(v, _)| v)))
    }

    async fn get(&self, key: &str) -> Result<Option<String>, Error> {
        let now = Instant::now();
        Ok(self.with(|m| {
            m.get(key)
                .filter(|(_, exp)| *exp > now)
                .map(|(v, _)| v.clone())
        }))
    }

    async fn hits(&self, keys: &[(&str, Duration)]) -> Result<Vec<u64>, Error> {
        let now = Instant::now();
        Ok(self.with(|m| {
            keys.iter()
                .map(|(key, window)| {
                    let entry = m
                        .entry((*key).to_string())
                        .or_insert_with(|| ("0".into(), now + *window));
                    if entry.1 <= now {
                        *entry = ("0".into(), now + *window);
                    }
                    let n = entry.0.parse::<u64>().unwrap_or(0) + 1;
                    entry.0 = n.to_string();
                    n
                })
                .collect()
        }))
    }

    async fn unhit(&self, keys: &[&str]) -> Result<(), Error> {
        let now = Instant::now();
        self.with(|m| {
            for key in keys {
                if let Some(entry) = m.get_mut(*key).filter(|e| e.1 > now) {
                    let n = entry.0.parse::<u64>().unwrap_or(0).saturating_sub(1);
                    entry.0 = n.to_string();
                }
            }
        });
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        self.with(|m| m.remove(key));
        Ok(())
    }

    async fn ping(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// Redis store shared by every gateway instance.
///
/// Every command is bounded by [`COMMAND_TIMEOUT`] (connection and response alike), so an
/// outage answers "unavailable" within about a second instead of holding requests; the
/// connection is re-established in the background with short, capped back-off, so
/// service resumes within seconds of Redis returning, without a restart.
pub struct RedisEphemeral {
    conn: ConnectionManager,
    prefix: String,
    /// The scripts, hashed once (`EVALSHA`, falling back to `EVAL` after a Redis restart).
    scripts: Scripts,
}

struct Scripts {
    hits: redis::Script,
    unhit: redis::Script,
    hit_and_take: redis::Script,
    hit_and_put: redis::Script,
}

/// The bound on any one Redis command, connecting included.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(1000);

/// Counts a hit on every key (`ARGV[i]`: the window of `KEYS[i]` in milliseconds) and
/// returns the counts. One script, so increment and expiry are one atomic step per key.
const HITS_SCRIPT: &str = r"
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 or redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ARGV[i]) end
  out[i] = n
end
return out";

/// `HITS_SCRIPT` on `KEYS[1]` (window `ARGV[1]`), then, if the count is at most `ARGV[2]`,
/// `GETDEL KEYS[2]`. Returns `{count, value or false}`.
const HIT_AND_TAKE_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n > tonumber(ARGV[2]) then return {n, false} end
return {n, redis.call('GETDEL', KEYS[2])}";

/// `HITS_SCRIPT` on `KEYS[1]` (window `ARGV[1]`), then, if the count is at most `ARGV[2]`,
/// `SET KEYS[2] ARGV[3] NX PX ARGV[4]`. Returns `{count, 1 if stored else 0}`.
const HIT_AND_PUT_SCRIPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n > tonumber(ARGV[2]) then return {n, 0} end
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then return {n, 1} end
return {n, 0}";

/// Takes one hit back from every key that still counts.
const UNHIT_SCRIPT: &str = r"
for _, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n and n > 0 then redis.call('DECR', key) end
end
return 0";

impl RedisEphemeral {
    /// Connects to `url`; fails if Redis cannot be reached now.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, Error> {
        let client = redis::Client::open(url).map_err(redis_error)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(COMMAND_TIMEOUT)
            .set_response_timeout(COMMAND_TIMEOUT)
            // A few reconnect attempts with short exponential back-off, never waiting more
            // than 500 ms between them; a failed round is retried on the next command.
            .set_number_of_retries(3)
            .set_exponent_base(2)
            .set_factor(50)
            .set_max_delay(500);
        let conn = bounded(ConnectionManager::new_with_config(client, config)).await?;
        let this = Self {
            conn,
            prefix: prefix.to_string(),
            scripts: Scripts {
                hits: redis::Script::new(HITS_SCRIPT),
                unhit: redis::Script::new(UNHIT_SCRIPT),
                hit_and_take: redis::Script::new(HIT_AND_TAKE_SCRIPT),
                hit_and_put: redis::Script::new(HIT_AND_PUT_SCRIPT),
            },
        };
        this.ping().await?;
        Ok(this)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, Error> {
        let mut c = self.conn.clone();
        bounded(cmd.query_async(&mut c)).await
    }
}

/// A Redis error as the domain sees it: unavailable (503) when Redis cannot serve, else a
/// store error.
fn redis_error(e: redis::RedisError) -> Error {
    use redis::ErrorKind as K;
    // Unreachable, or reachable but not serving: loading its data after a restart, a
    // replica during a failover, a cluster without a primary for the slot.
    let not_serving = matches!(
        e.kind(),
        K::BusyLoadingError | K::TryAgain | K::ClusterDown | K::MasterDown | K::ReadOnly
    );
    if not_serving
        || e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
    {
        Error::Unavailable(format!("redis: {e}"))
    } else {
        Error::Ephemeral(e.to_string())
    }
}

/// Runs a Redis future under [`COMMAND_TIMEOUT`].
async fn bounded<T>(
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, Error> {
    match tokio::time::timeout(COMMAND_TIMEOUT, f).await {
        Ok(r) => r.map_err(redis_error),
        Err(_) => Err(Error::Unavailable(format!(
            "redis did not answer within {} ms",
            COMMAND_TIMEOUT.as_millis()
        ))),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait]
impl Ephemeral for RedisEphemeral {
    async fn put_new(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, Error> {
        let r: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(self.key(key))
                    .arg(value)
                    .arg("NX")
                    .arg("PX")
                    .arg(millis(ttl)),
            )
            .await?;
        Ok(r.is_some())
    }

    async fn take(&self, key: &str) -> Result<Option<String>, Error> {
        self.query(redis::cmd("GETDEL").arg(self.key(key))).await
    }

    async fn get(&self, key: &str) -> Result<Option<String>, Error> {
        self.query(redis::cmd("GET").arg(self.key(key))).await
    }

    async fn hits(&self, keys: &[(&str, Duration)]) -> Result<Vec<u64>, Error> {
        let mut invocation = self.scripts.hits.prepare_invoke();
        for (key, window) in keys {
            invocation.key(self.key(key)).arg(millis(*window));
        }
        let mut c = self.conn.clone();
        bounded(invocation.invoke_async(&mut c)).await
    }

    async fn unhit(&self, keys: &[&str]) -> Result<(), Error> {
        let mut invocation = self.scripts.unhit.prepare_invoke();
        for key in keys {
            invocation.key(self.key(key));
        }
        let mut c = self.conn.clone();
        let _: i64 = bounded(invocation.invoke_async(&mut c)).await?;
        Ok(())
    }

    async fn hit_and_take(
        &self,
        counter: (&str, Duration),
        max: u64,
        key: &str,
    ) -> Result<(u64, Option<String>), Error> {
        let mut invocation = self.scripts.hit_and_take.prepare_invoke();
        invocation
            .key(self.key(counter.0))
            .key(self.key(key))
            .arg(millis(counter.1))
            .arg(max);
        let mut c = self.conn.clone();
        bounded(invocation.invoke_async(&mut c)).await
    }

    async fn hit_and_put_new(
        &self,
        counter: (&str, Duration),
        max: u64,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<(u64, bool), Error> {
        let mut invocation = self.scripts.hit_and_put.prepare_invoke();
        invocation
            .key(self.key(counter.0))
            .key(self.key(key))
            .arg(millis(counter.1))
            .arg(max)
            .arg(value)
            .arg(millis(ttl));
        let mut c = self.conn.clone();
        let (n, stored): (u64, i64) = bounded(invocation.invoke_async(&mut c)).await?;
        Ok((n, stored == 1))
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        let _: i64 = self.query(redis::cmd("DEL").arg(self.key(key))).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), Error> {
        let _: String = self.query(&redis::cmd("PING")).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_semantics() {
        let e = MemoryEphemeral::new();
        assert!(e.put_new("k", "v", Duration::from_secs(60)).await.unwrap());
        assert!(!e.put_new("k", "w", Duration::from_secs(60)).await.unwrap());
        assert_eq!(e.take("k").await.unwrap().as_deref(), Some("v"));
        assert_eq!(e.take("k").await.unwrap(), None);
        assert_eq!(e.hit("c", Duration::from_secs(60)).await.unwrap(), 1);
        assert_eq!(e.hit("c", Duration::from_secs(60)).await.unwrap(), 2);
        let w = Duration::from_secs(60);
        assert_eq!(e.hits(&[("c", w), ("d", w)]).await.unwrap(), [3, 1]);
        e.unhit(&["c", "d", "absent"]).await.unwrap();
        e.unhit(&["d"]).await.unwrap();
        assert_eq!(e.hits(&[("c", w), ("d", w)]).await.unwrap(), [3, 1]);
        e.delete("c").await.unwrap();
        assert_eq!(e.hit("c", w).await.unwrap(), 1);
        assert!(e.put_new("x", "v", Duration::from_millis(1)).await.unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(e.take("x").await.unwrap(), None);
    }
}
