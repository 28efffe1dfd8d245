//! Sign-In with Ethereum in the gateway: nonces in the ephemeral store (issued here, bound to
//! the pool, consumed atomically once), the pool's policy, and proving a wallet from a
//! signed message. EIP-4361; DESIGN rule 4.

use accounts::ProvenWallet;
use accounts::store::PoolRecord;
use std::sync::Arc;
use std::time::Duration;

use crate::ratelimit;
use crate::state::AppState;

/// Why a wallet was not proven.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The message or signature was refused (EIP-4361 rules, the nonce, the signature).
    #[error(transparent)]
    Refused(#[from] wallet::VerifyError),
    /// The nonce store or the clock failed.
    #[error(transparent)]
    Store(#[from] accounts::Error),
    /// The client address is past its limit of attempts.
    #[error("rate limited; retry after {retry_after} s")]
    Limited { retry_after: u64 },
}

impl From<ratelimit::Error> for Error {
    fn from(e: ratelimit::Error) -> Self {
        match e {
            ratelimit::Error::Limited { retry_after } => Error::Limited { retry_after },
            ratelimit::Error::Store(e) => Error::Store(e),
        }
    }
}

const NONCE_LEN: usize = 20; // 62^20 ≈ 2^119
const SKEW_SECONDS: i64 = 60;

fn nonce_key(pool: &PoolRecord, nonce: &str) -> String {
    format!("siwe-nonce:{}:{nonce}", pool.id)
}

/// A fresh nonce: alphanumeric, from the CSPRNG (rejection sampling, no modulo bias).
pub fn random_nonce() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(NONCE_LEN);
    while out.len() < NONCE_LEN {
        for b in accounts::secret::random_bytes::<32>() {
            // 248 = 4 * 62: bytes at or above it would bias the alphabet.
            if b < 248 && out.len() < NONCE_LEN {
                out.push(ALPHABET[usize::from(b % 62)] as char);
            }
        }
    }
    out
}

/// Issues a nonce for the pool (it lives `siwe_nonce_ttl` seconds) to a client `ip`, counted against `NONCES_PER_IP` in the
/// same round trip to the ephemeral store.
pub async fn issue_nonce_for(
    state: &AppState,
    pool: &PoolRecord,
    ip: &str,
) -> Result<(String, i64), ratelimit::Error> {
    let ttl = nonce_ttl(pool);
    loop {
        let nonce = random_nonce();
        let stored = ratelimit::hit_and_put_new(
            state,
            pool,
            (ratelimit::NONCES_PER_IP, ip),
            &nonce_key(pool, &nonce),
            "1",
            ttl,
        )
        .await?;
        if stored {
            return Ok((nonce, state.clock.now() + ttl.as_secs() as i64));
        }
    }
}

fn nonce_ttl(pool: &PoolRecord) -> Duration {
    Duration::from_secs(u64::try_from(pool.config.siwe_nonce_ttl.max(30)).unwrap_or(300))
}

/// Pools' SIWE policies, each built once per configuration: a sign-in compares the pool's
/// SIWE settings with those its cached policy was built from, and allocates nothing.
#[derive(Default)]
pub struct PolicyCache {
    entries: std::sync::RwLock<
        std::collections::HashMap<accounts::PoolId, (Settings, Arc<wallet::Policy>)>,
    >,
}

/// The pool settings a policy is built from.
struct Settings {
    domains: Vec<String>,
    uri_origins: Vec<String>,
    chain_ids: Vec<u64>,
    nonce_ttl: i64,
}

impl Settings {
    fn of(pool: &PoolRecord) -> Self {
        let c = &pool.config;
        Settings {
            domains: c.siwe_domains.clone(),
            uri_origins: c.siwe_uri_origins.clone(),
            chain_ids: c.siwe_chain_ids.clone(),
            nonce_ttl: c.siwe_nonce_ttl,
        }
    }

    fn hold_for(&self, pool: &PoolRecord) -> bool {
        let c = &pool.config;
        self.domains == c.siwe_domains
            && self.uri_origins == c.siwe_uri_origins
            && self.chain_ids == c.siwe_chain_ids
            && self.nonce_ttl == c.siwe_nonce_ttl
    }
}

/// The pool's SIWE policy (see [`build_policy`]), from the cache while the pool's settings
/// are those it was built from.
pub fn policy(state: &AppState, pool: &PoolRecord) -> Arc<wallet::Policy> {
    if let Ok(map) = state.siwe_policies.entries.read()
        && let Some((settings, policy)) = map.get(&pool.id)
        && settings.hold_for(pool)
    {
        return policy.clone();
    }
    let policy = Arc::new(build_policy(state, pool));
    if let Ok(mut map) = state.siwe_policies.entries.write() {
        map.insert(pool.id, (Settings::of(pool), policy.clone()));
    }
    policy
}

/// The pool's SIWE policy; empty lists default to the public URL, and to chain 1 plus
/// every chain with a configured RPC endpoint.
fn build_policy(state: &AppState, pool: &PoolRecord) -> wallet::Policy {
    let url = &state.config.public_url;
    let host = url.host_str().unwrap_or_default();
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let or = |list: &Vec<String>, default: String| {
        if list.is_empty() {
            vec![default]
        } else {
            list.clone()
        }
    };
    let c = &pool.config;
    wallet::Policy {
        domains: or(&c.siwe_domains, authority.clone()),
        uri_origins: or(
            &c.siwe_uri_origins,
            format!("{}://{authority}", url.scheme()),
        ),
        // DESIGN: chain 1 plus every chain with an RPC endpoint configured.
        chain_ids: if c.siwe_chain_ids.is_empty() {
            let mut ids = vec![1];
            ids.extend(
                state
                    .config
                    .rpc_urls
                    .iter()
                    .map(|(id, _)| *id)
                    .filter(|id| *id != 1),
            );
            ids
        } else {
            c.siwe_chain_ids.clone()
        },
        max_age: time::Duration::seconds(c.siwe_nonce_ttl),
        skew: time::Duration::seconds(SKEW_SECONDS),
    }
}

/// Proves the wallet behind a signed message: the message is parsed strictly, its nonce
/// consumed (so a message works once, whatever happens next), checked against the pool's
/// policy and the clock, and the signature verified.
pub async fn prove(
    state: &AppState,
    pool: &PoolRecord,
    message: &str,
    signature: &str,
) -> Result<ProvenWallet, Error> {
    let msg = wallet::SiweMessage::parse(message)?;
    let live = state
        .ephemeral
        .take(&nonce_key(pool, msg.nonce()))
        .await?
        .is_some();
    prove_parsed(state, pool, &msg, live, signature).await
}

/// [`prove`] for a sign-in from `ip`: the attempt is counted against `limit` and the nonce
/// taken in one round trip to the ephemeral store (a message that does not parse is counted
/// too). Only the nonce taken here, or in [`prove`], ever reaches the signature check.
pub async fn prove_counted(
    state: &AppState,
    pool: &PoolRecord,
    (limit, ip): (ratelimit::Limit, &str),
    message: &str,
    signature: &str,
) -> Result<ProvenWallet, Error> {
    let msg = match wallet::SiweMessage::parse(message) {
        Ok(msg) => msg,
        Err(refused) => {
            ratelimit::hit(state, pool, limit, ip).await?;
            return Err(refused.into());
        }
    };
    let taken =
        ratelimit::hit_and_take(state, pool, limit, ip, &nonce_key(pool, msg.nonce())).await?;
    prove_parsed(state, pool, &msg, taken.is_some(), signature).await
}

/// [`prove`] for a parsed message whose nonce was taken (`live`: it was there to take).
async fn prove_parsed(
    state: &AppState,
    pool: &PoolRecord,
    msg: &wallet::SiweMessage,
    live: bool,
    signature: &str,
) -> Result<ProvenWallet, Error> {
    if !live {
        return Err(wallet::VerifyError::Nonce.into());
    }
    let now = time::OffsetDateTime::from_unix_timestamp(state.clock.now())
        .map_err(|_| accounts::Error::Store("the clock is out of range".into()))?;
    msg.check(&policy(state, pool), msg.nonce(), now)?;
    let hex_sig = signature.strip_prefix("0x").unwrap_or(signature);
    let bytes = hex::decode(hex_sig).map_err(|_| wallet::VerifyError::BadSignature)?;
    // ERC-6492, then ERC-1271, then ecrecover; contract wallets need the chain's RPC.
    let signer = state.chains.verify(msg, &bytes).await?;
    Ok(ProvenWallet {
        kind: signer.kind,
        caip10: wallet::Caip10::new(msg.chain_id(), signer.address),
    })
}
