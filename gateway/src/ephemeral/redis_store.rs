//! The Redis store shared by every gateway instance: one server, a Cluster or Sentinel's
//! primary (see [`super::topology`]).
//!
//! - **Bounded.** Every command, connecting included, is bounded by [`COMMAND_TIMEOUT`], so
//!   an outage answers "unavailable" within about a second instead of holding requests; the
//!   connection is re-established in the background with short, capped back-off, so service
//!   resumes within seconds of Redis returning, without a restart.
//! - **Confirmed on a replica.** Replication is asynchronous: a primary that dies a moment
//!   after taking a nonce can leave its replica, promoted, still holding it, and the nonce
//!   would be accepted twice. So with `wait_replicas` = n > 0 (the default where a failover can
//!   happen), every write that consumes or counts (a take, a delete, a counted hit) is
//!   pipelined with `WAIT n` and counts only when n replicas confirmed it; otherwise the
//!   request answers "unavailable" and writes are refused for [`LAG_PAUSE`], so a lagging
//!   replica costs one `WAIT` timeout a second, never one a request. Sentinel and Cluster
//!   promote the replica with the most data, so a confirmed write survives the loss of its
//!   primary. Issuing (a new nonce, a pending request) is not confirmed: losing one only makes
//!   its user start again.
//! - **No cross-slot command.** On a Cluster each key is its own slot, so the two-key scripts
//!   run as two steps in the same order (count, then take): a count past the limit still
//!   takes nothing.

use async_trait::async_trait;
use redis::{Cmd, FromRedisValue, Script};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

use super::Ephemeral;
use super::topology::{Conn, Target};
use crate::metrics::Metrics;
use accounts::Error;

pub struct RedisEphemeral {
    conn: Conn,
    cluster: bool,
    prefix: String,
    /// Replicas that must confirm a write that consumes or counts (`WAIT`); 0: none.
    wait_replicas: u32,
    /// Until when such writes are refused after a replica failed to confirm one.
    lagging_until: Mutex<Option<Instant>>,
    /// The scripts, hashed once (`EVALSHA`, loading them again after a Redis restart).
    scripts: Scripts,
}

struct Scripts {
    hits: Script,
    unhit: Script,
    hit_and_take: Script,
    hit_and_put: Script,
}

/// The bound on any one Redis command, connecting included.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(1000);

/// How long `WAIT` may wait for replicas: well inside [`COMMAND_TIMEOUT`].
pub const WAIT_MS: u64 = 250;

/// How long writes are refused after a replica did not confirm one in [`WAIT_MS`].
pub const LAG_PAUSE: Duration = Duration::from_secs(1);

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
    /// Connects to `url` (any form [`Target::parse`] takes); fails if Redis cannot be reached
    /// now. `wait_replicas`: see the module; `None` takes 1 where a failover can happen
    /// (Cluster, Sentinel), else 0.
    pub async fn connect(
        url: &str,
        prefix: &str,
        wait_replicas: Option<u32>,
    ) -> Result<Self, Error> {
        let target = Target::parse(url).map_err(Error::Ephemeral)?;
        let conn = bounded(Conn::connect(&target)).await?;
        let this = Self {
            cluster: matches!(conn, Conn::Cluster(_)),
            conn,
            prefix: prefix.to_string(),
            wait_replicas: wait_replicas.unwrap_or(u32::from(target.has_failover())),
            lagging_until: Mutex::new(None),
            scripts: Scripts {
                hits: Script::new(HITS_SCRIPT),
                unhit: Script::new(UNHIT_SCRIPT),
                hit_and_take: Script::new(HIT_AND_TAKE_SCRIPT),
                hit_and_put: Script::new(HIT_AND_PUT_SCRIPT),
            },
        };
        this.ping().await?;
        Ok(this)
    }

    /// Replicas that must confirm a write that consumes or counts.
    pub fn wait_replicas(&self) -> u32 {
        self.wait_replicas
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// `EVALSHA` of `script` on `keys` with `args`.
    fn script(script: &Script, keys: &[String], args: &[u64]) -> Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(script.get_hash())
            .arg(keys.len())
            .arg(keys)
            .arg(args);
        cmd
    }

    /// A command that changes nothing that must survive a failover.
    async fn query<T: FromRedisValue>(
        &self,
        cmd: &Cmd,
        script: Option<&Script>,
    ) -> Result<T, Error> {
        let mut pipe = redis::pipe();
        pipe.add_command(cmd.clone());
        let (value,): (T,) = self.pipeline(&pipe, script).await?;
        Ok(value)
    }

    /// A write that consumes or counts: confirmed by `wait_replicas` replicas, or refused.
    async fn confirmed<T: FromRedisValue>(
        &self,
        cmd: Cmd,
        script: Option<&Script>,
    ) -> Result<T, Error> {
        if self.wait_replicas == 0 {
            return self.query(&cmd, script).await;
        }
        if lock(&self.lagging_until).is_some_and(|t| Instant::now() < t) {
            return Err(lagging(self.wait_replicas, None));
        }
        let mut pipe = redis::pipe();
        pipe.add_command(cmd)
            .cmd("WAIT")
            .arg(self.wait_replicas)
            .arg(WAIT_MS);
        let (value, acked): (T, u32) = self.pipeline(&pipe, script).await?;
        if acked < self.wait_replicas {
            *lock(&self.lagging_until) = Some(Instant::now() + LAG_PAUSE);
            tracing::warn!(
                acked,
                wanted = self.wait_replicas,
                "redis: a write was not confirmed by its replicas in time; writes refused for a second"
            );
            return Err(lagging(self.wait_replicas, Some(acked)));
        }
        Ok(value)
    }

    /// Runs `pipe`, loading `script` once if Redis does not know it (after a restart, or on a
    /// Cluster node promoted since).
    async fn pipeline<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
        script: Option<&Script>,
    ) -> Result<T, Error> {
        let mut c = self.conn.clone();
        bounded(async {
            match pipe.query_async(&mut c).await {
                Err(e) if e.kind() == redis::ErrorKind::NoScriptError && script.is_some() => {
                    if let Some(s) = script {
                        let _: String = redis::cmd("SCRIPT")
                            .arg("LOAD")
                            .arg(script_source(s, &self.scripts))
                            .query_async(&mut c)
                            .await?;
                    }
                    pipe.query_async(&mut c).await
                }
                r => r,
            }
        })
        .await
    }

    /// Counts one hit on `key` (see [`Ephemeral::hits`]).
    async fn hit_one(&self, key: &str, window: Duration) -> Result<u64, Error> {
        let keys = [self.key(key)];
        let counts: Vec<u64> = self
            .confirmed(
                Self::script(&self.scripts.hits, &keys, &[millis(window)]),
                Some(&self.scripts.hits),
            )
            .await?;
        counts
            .first()
            .copied()
            .ok_or_else(|| Error::Ephemeral("redis: a hit without its count".into()))
    }

    /// Watches who the primaries are, for [`watch_primaries`].
    pub fn watch(&self) -> Watch {
        Watch {
            conn: self.conn.clone(),
            seen: None,
        }
    }
}

/// The text of `script`, which is one of `scripts`.
fn script_source(script: &Script, scripts: &Scripts) -> &'static str {
    let hash = script.get_hash();
    [
        (&scripts.hits, HITS_SCRIPT),
        (&scripts.unhit, UNHIT_SCRIPT),
        (&scripts.hit_and_take, HIT_AND_TAKE_SCRIPT),
        (&scripts.hit_and_put, HIT_AND_PUT_SCRIPT),
    ]
    .into_iter()
    .find(|(s, _)| s.get_hash() == hash)
    .map_or("", |(_, src)| src)
}

fn lagging(wanted: u32, acked: Option<u32>) -> Error {
    Error::Unavailable(match acked {
        Some(n) => format!("redis: {n} of {wanted} replicas confirmed a write within {WAIT_MS} ms"),
        None => "redis: writes paused, a replica recently failed to confirm one".to_string(),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A Redis error as the domain sees it: unavailable (503) when Redis cannot serve, else a
/// store error.
fn redis_error(e: redis::RedisError) -> Error {
    use redis::ErrorKind as K;
    // Unreachable, or reachable but not serving: loading its data after a restart, a
    // replica during a failover, a cluster without a primary for the slot.
    let not_serving = matches!(
        e.kind(),
        K::BusyLoadingError
            | K::TryAgain
            | K::ClusterDown
            | K::MasterDown
            | K::ReadOnly
            | K::Moved
            | K::Ask
            | K::ClusterConnectionNotFound
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
                None,
            )
            .await?;
        Ok(r.is_some())
    }

    async fn take(&self, key: &str) -> Result<Option<String>, Error> {
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(self.key(key));
        self.confirmed(cmd, None).await
    }

    async fn get(&self, key: &str) -> Result<Option<String>, Error> {
        self.query(redis::cmd("GET").arg(self.key(key)), None).await
    }

    async fn hits(&self, keys: &[(&str, Duration)]) -> Result<Vec<u64>, Error> {
        if self.cluster {
            let each = keys.iter().map(|(key, window)| self.hit_one(key, *window));
            return futures_util::future::try_join_all(each).await;
        }
        let names: Vec<String> = keys.iter().map(|(k, _)| self.key(k)).collect();
        let windows: Vec<u64> = keys.iter().map(|(_, w)| millis(*w)).collect();
        self.confirmed(
            Self::script(&self.scripts.hits, &names, &windows),
            Some(&self.scripts.hits),
        )
        .await
    }

    async fn unhit(&self, keys: &[&str]) -> Result<(), Error> {
        let names: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        // Giving a hit back never needs confirming: losing it only counts one too many.
        let groups: Vec<&[String]> = if self.cluster {
            names.chunks(1).collect()
        } else {
            vec![&names[..]]
        };
        for group in groups {
            let _: i64 = self
                .query(
                    &Self::script(&self.scripts.unhit, group, &[]),
                    Some(&self.scripts.unhit),
                )
                .await?;
        }
        Ok(())
    }

    async fn hit_and_take(
        &self,
        counter: (&str, Duration),
        max: u64,
        key: &str,
    ) -> Result<(u64, Option<String>), Error> {
        if self.cluster {
            return super::count_then(self, counter, max, None, || self.take(key)).await;
        }
        let keys = [self.key(counter.0), self.key(key)];
        self.confirmed(
            Self::script(&self.scripts.hit_and_take, &keys, &[millis(counter.1), max]),
            Some(&self.scripts.hit_and_take),
        )
        .await
    }

    async fn hit_and_put_new(
        &self,
        counter: (&str, Duration),
        max: u64,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<(u64, bool), Error> {
        if self.cluster {
            return super::count_then(self, counter, max, false, || self.put_new(key, value, ttl))
                .await;
        }
        let mut cmd = Self::script(
            &self.scripts.hit_and_put,
            &[self.key(counter.0), self.key(key)],
            &[millis(counter.1), max],
        );
        cmd.arg(value).arg(millis(ttl));
        let (n, stored): (u64, i64) = self.confirmed(cmd, Some(&self.scripts.hit_and_put)).await?;
        Ok((n, stored == 1))
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(key));
        let _: i64 = self.confirmed(cmd, None).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), Error> {
        let _: String = self.query(&redis::cmd("PING"), None).await?;
        Ok(())
    }

    fn watch(&self) -> Option<Watch> {
        Some(RedisEphemeral::watch(self))
    }
}

/// Who served as primary at each look.
pub struct Watch {
    conn: Conn,
    seen: Option<BTreeSet<String>>,
}

impl Watch {
    /// The primaries new since the last look: a restart (every counter gone) or a failover
    /// (counters written just before it may be gone). Empty at the first look.
    pub async fn look(&mut self) -> Result<Vec<String>, Error> {
        let now = bounded(self.conn.primaries()).await?;
        let Some(seen) = &mut self.seen else {
            self.seen = Some(now);
            return Ok(Vec::new());
        };
        let fresh: Vec<String> = now.difference(seen).cloned().collect();
        seen.extend(now);
        Ok(fresh)
    }
}

/// How often each instance looks at who the primaries are.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Looks at the primaries every [`WATCH_EVERY`] until `stop`: a new one is logged as a
/// security event (rate-limit and lockout counts may have been lost with the old one) and
/// counted in `gatehouse_redis_failovers_total`.
pub async fn watch_primaries(mut w: Watch, metrics: Arc<Metrics>, mut stop: watch::Receiver<bool>) {
    loop {
        match w.look().await {
            Ok(fresh) if !fresh.is_empty() => {
                metrics.redis_failover();
                tracing::warn!(
                    security_event = "redis_failover",
                    primaries = ?fresh,
                    "redis: a primary restarted or a replica took over; rate-limit and lockout \
                     counts written just before may be lost"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "redis: the primaries could not be looked at"),
        }
        tokio::select! {
            _ = tokio::time::sleep(WATCH_EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}
