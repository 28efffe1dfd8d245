//! The application state: every shared part, chosen once at start-up from the config.

use crate::ephemeral::{Ephemeral, MemoryEphemeral, RedisEphemeral};
use accounts::password::PasswordHasher;
use accounts::policy::PoolConfig;
use accounts::secret::MasterKey;
use accounts::store::{DynStore, PoolRecord};
use accounts::{Error, UserPool};
use anyhow::Context;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::clock::Clock;
use crate::config::Config;
use crate::keys::KeyRing;
use crate::mailer::{LogTransport, MailSignal, SmtpTransport, Transport};
use crate::metrics::Metrics;

/// The pool every installation starts with.
pub const MAIN_POOL: &str = "main";

/// How long a cached pool record is trusted before it is read again.
const POOL_CACHE_SECONDS: i64 = 30;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub users: UserPool,
    pub ephemeral: Arc<dyn Ephemeral>,
    pub keys: Arc<KeyRing>,
    pub pools: Arc<PoolCache>,
    pub mail: MailSignal,
    pub transport: Arc<dyn Transport>,
    /// JSON-RPC endpoints by chain, for contract wallets (ERC-1271, ERC-6492).
    pub chains: Arc<wallet::Chains>,
    /// Each pool's SIWE policy, built once per configuration.
    pub siwe_policies: Arc<crate::siwe::PolicyCache>,
    pub clock: Clock,
    /// The client of upstream identity providers, with their discovery and JWKS caches.
    pub federation: Arc<crate::federation::Federation>,
    /// The pools' hooks and the client that calls them.
    pub hooks: Arc<crate::hooks::Hooks>,
    /// What `/metrics` exposes: this instance's counters.
    pub metrics: Arc<Metrics>,
}

/// Pools by name, cached briefly.
pub struct PoolCache {
    store: DynStore,
    entries: RwLock<HashMap<String, (Arc<PoolRecord>, i64)>>,
}

impl PoolCache {
    pub async fn get(&self, name: &str, now: i64) -> Result<Option<Arc<PoolRecord>>, Error> {
        if let Ok(map) = self.entries.read()
            && let Some((p, at)) = map.get(name)
            && now < at + POOL_CACHE_SECONDS
        {
            return Ok(Some(p.clone()));
        }
        let Some(pool) = self.store.find_pool_by_name(name).await? else {
            return Ok(None);
        };
        let pool = Arc::new(pool);
        if let Ok(mut map) = self.entries.write() {
            map.insert(name.to_string(), (pool.clone(), now));
        }
        Ok(Some(pool))
    }

    /// Drops a cached pool after a change made here (other instances see it within
    /// `POOL_CACHE_SECONDS`).
    pub fn forget(&self, name: &str) {
        if let Ok(mut map) = self.entries.write() {
            map.remove(name);
        }
    }
}

/// Reads the master key from the config, or from `master.key` in the data directory,
/// generating that file on first start (embedded default only).
fn master_key(config: &Config) -> anyhow::Result<MasterKey> {
    if let Some(k) = &config.master_key {
        return MasterKey::parse(k.expose())
            .map_err(|_| anyhow::anyhow!("GATEHOUSE_MASTER_KEY must be 32 bytes, hex or base64"));
    }
    // A generated key is for the embedded default only: with a shared database, instances
    // (and the CLI) that each generated their own would seal with different keys.
    if !config.database_url.starts_with("sqlite:") {
        anyhow::bail!(
            "GATEHOUSE_MASTER_KEY is required with a PostgreSQL database (32 random bytes, hex or base64)"
        );
    }
    let path = config.data_dir.join("master.key");
    if !path.exists() {
        write_private(&path, &MasterKey::generate_hex())?;
        tracing::warn!(
            path = %path.display(),
            "GENERATED A MASTER KEY beside the database. Anyone who reads this file can decrypt the signing keys: \
             back it up, keep it private, and set GATEHOUSE_MASTER_KEY in production"
        );
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    MasterKey::parse(&text)
        .map_err(|_| anyhow::anyhow!("{} does not hold a valid master key", path.display()))
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// Opens the database (running migrations) and nothing else: for `gatehouse migrate`.
pub async fn open_store(config: &Config) -> anyhow::Result<DynStore> {
    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("creating the data directory {}", config.data_dir.display())
        })?;
    }
    accounts::store::connect_with_replica(&config.database_url, config.database_read_url.as_deref())
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot open the database at {} (DATABASE_URL): {e}",
                crate::config::redacted(&config.database_url)
            )
        })
}

impl AppState {
    /// Connects every store, creates the `main` pool and its keys on first start.
    pub async fn build(config: Config, clock: Clock) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("creating the data directory {}", config.data_dir.display())
        })?;
        let master = Arc::new(master_key(&config)?);
        let store = open_store(&config).await?;
        let ephemeral: Arc<dyn Ephemeral> = match &config.redis_url {
            Some(url) => Arc::new(
                RedisEphemeral::connect(url, "gatehouse:", config.redis_wait_replicas)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "cannot reach Redis at {} (REDIS_URL): {e}",
                            crate::ephemeral::topology::Target::redacted(url)
                        )
                    })?,
            ),
            None => Arc::new(MemoryEphemeral::new()),
        };
        let transport: Arc<dyn Transport> = match &config.smtp_url {
            Some(url) => Arc::new(
                SmtpTransport::new(url.expose(), &config.smtp_from).map_err(anyhow::Error::msg)?,
            ),
            None => Arc::new(LogTransport),
        };
        let metrics = Arc::new(Metrics::new());
        let chains = wallet::Chains::new(
            config.rpc_urls.iter().map(|(id, url)| (*id, url.expose())),
            Duration::from_millis(config.rpc_timeout_ms),
        )
        .map_err(anyhow::Error::msg)?
        .observed(metrics.rpc_observer());
        let federation =
            crate::federation::Federation::new(Duration::from_millis(config.federation_timeout_ms))
                .map_err(anyhow::Error::msg)?;
        let hasher = PasswordHasher::new(config.hash_concurrency)?;
        let mut users = UserPool::new(store.clone(), hasher, master.clone());
        if let Some(pwned) = &config.pwned {
            let corpus = crate::pwned::RangeApi::new(pwned.clone(), metrics.clone())
                .map_err(anyhow::Error::msg)?;
            users = users.with_breached_passwords(Arc::new(corpus));
        }
        let keys = Arc::new(KeyRing::new(store.clone(), master));
        let now = clock.now();
        let main = store
            .ensure_pool(MAIN_POOL, &PoolConfig::default(), now)
            .await?;
        keys.ensure(&main, now).await?;
        // Addresses stored under an older normalisation rule take the current form, once.
        let renormalized = store.renormalize_emails(now).await?;
        if renormalized > 0 {
            tracing::info!(
                rows = renormalized,
                "stored email addresses brought to the current normal form"
            );
        }
        // Fail at start, not on the first sign-in, when the master key cannot open the keys.
        keys.keys(main.id, now).await.map_err(|_| {
            anyhow::anyhow!("the master key does not open the stored signing keys: is it the one they were sealed with?")
        })?;
        let hooks =
            crate::hooks::Hooks::new(users.clone(), metrics.clone()).map_err(anyhow::Error::msg)?;
        Ok(Self {
            config: Arc::new(config),
            pools: Arc::new(PoolCache {
                store: store.clone(),
                entries: RwLock::new(HashMap::new()),
            }),
            store,
            users,
            ephemeral,
            keys,
            mail: MailSignal::default(),
            transport,
            chains: Arc::new(chains),
            siwe_policies: Arc::default(),
            federation: Arc::new(federation),
            hooks: Arc::new(hooks),
            clock,
            metrics,
        })
    }
}
