//! The verifier: discovery, the JWKS cache, and the checks every token goes through.

use base64::Engine as _;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, RwLock};

use crate::{AccessClaims, Error, IdClaims};

/// The header fields looked at; the key-carrying ones only for their presence.
#[derive(serde::Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow)]
    alg: std::borrow::Cow<'a, str>,
    typ: Option<String>,
    kid: Option<String>,
    jwk: Option<serde::de::IgnoredAny>,
    jku: Option<serde::de::IgnoredAny>,
    x5u: Option<serde::de::IgnoredAny>,
    x5c: Option<serde::de::IgnoredAny>,
    crit: Option<serde::de::IgnoredAny>,
}

/// Claims that say when they were issued.
pub(crate) trait Issued {
    fn iat(&self) -> i64;
}

impl Issued for AccessClaims {
    fn iat(&self) -> i64 {
        self.iat
    }
}

impl Issued for IdClaims {
    fn iat(&self) -> i64 {
        self.iat
    }
}

/// A published key, usable for exactly one algorithm.
struct Key {
    alg: Algorithm,
    decoding: DecodingKey,
}

struct Cache {
    keys: HashMap<String, Arc<Key>>,
    /// When the keys above were fetched (the last successful fetch).
    fetched: Option<Instant>,
    jwks_uri: String,
    /// When discovery last said where the JWKS is (None: the address was given).
    discovered: Option<Instant>,
}

/// The last fetch attempt, successful or not, under the single-flight lock.
struct Attempt {
    number: u64,
    error: Option<String>,
}

struct Inner {
    issuer: String,
    leeway: u64,
    ttl: Duration,
    max_stale: Duration,
    cooldown: Duration,
    fetch_timeout: Duration,
    http: reqwest::Client,
    cache: RwLock<Cache>,
    /// Serialises fetches: of the callers that find the keys stale or a `kid` unknown, one
    /// fetches and the others take its outcome (success or failure).
    fetching: Mutex<Attempt>,
    attempts: AtomicU64,
    /// Milliseconds since `epoch` of the last attempt, for the cooldown (read lock-free).
    last_attempt_ms: AtomicU64,
    epoch: Instant,
    fetches: AtomicU64,
    /// The claim checks, built once: per algorithm, for access tokens and for ID tokens.
    validations: Vec<(Algorithm, bool, Validation)>,
}

impl Inner {
    fn validation(&self, alg: Algorithm, access: bool) -> Result<&Validation, Error> {
        self.validations
            .iter()
            .find(|(a, acc, _)| *a == alg && *acc == access)
            .map(|(_, _, v)| v)
            .ok_or(Error::Config(if access {
                "no audience set for access tokens"
            } else {
                "no client id set for ID tokens"
            }))
    }
}

fn validations(
    issuer: &str,
    leeway: u64,
    audiences: &[String],
    client_ids: &[String],
) -> Vec<(Algorithm, bool, Validation)> {
    let mut out = Vec::new();
    for alg in [Algorithm::ES256, Algorithm::RS256, Algorithm::EdDSA] {
        for (access, auds) in [(true, audiences), (false, client_ids)] {
            if auds.is_empty() {
                continue;
            }
            let mut v = Validation::new(alg);
            v.leeway = leeway;
            v.set_issuer(&[issuer]);
            v.set_audience(auds);
            v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
            v.validate_nbf = true;
            out.push((alg, access, v));
        }
    }
    out
}

/// Validates tokens of one issuer. Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

/// Options of a [`Verifier`].
pub struct VerifierBuilder {
    issuer: String,
    audiences: Vec<String>,
    client_ids: Vec<String>,
    jwks_uri: Option<String>,
    leeway: u64,
    ttl: Duration,
    max_stale: Duration,
    cooldown: Duration,
    fetch_timeout: Duration,
    http: Option<reqwest::Client>,
}

impl VerifierBuilder {
    /// Accept access tokens for this audience (Gatehouse access tokens name the issuer).
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audiences.push(aud.into());
        self
    }

    /// Accept ID tokens issued to this client (their `aud`).
    pub fn client_id(mut self, client: impl Into<String>) -> Self {
        self.client_ids.push(client.into());
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.as_secs();
        self
    }

    /// How long fetched keys (and the discovery document) are used before they are fetched
    /// again (default 5 minutes).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long past the TTL cached keys still serve while the JWKS cannot be fetched
    /// (default 1 hour); after that, validation fails with [`Error::Fetch`].
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    /// The least time between two fetch attempts caused by unknown `kid`s or stale keys
    /// (default 5 s).
    pub fn refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// The longest a fetch may take, whatever the HTTP client's own settings (default 10 s).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// Skip discovery and use this JWKS address.
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.jwks_uri = Some(uri.into());
        self
    }

    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Fetches the discovery document (unless a JWKS address was given) and the JWKS.
    pub async fn build(self) -> Result<Verifier, Error> {
        if self.audiences.is_empty() && self.client_ids.is_empty() {
            return Err(Error::Config(
                "set an audience (access tokens) or a client id (ID tokens)",
            ));
        }
        let http = match self.http {
            Some(c) => c,
            None => reqwest::Client::builder()
                .timeout(self.fetch_timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::Fetch(e.to_string()))?,
        };
        let discovered = self.jwks_uri.is_none();
        let jwks_uri = match self.jwks_uri {
            Some(u) => u,
            None => discover(&http, &self.issuer, self.fetch_timeout).await?,
        };
        let now = Instant::now();
        let checks = validations(&self.issuer, self.leeway, &self.audiences, &self.client_ids);
        let verifier = Verifier {
            inner: Arc::new(Inner {
                validations: checks,
                issuer: self.issuer,
                leeway: self.leeway,
                ttl: self.ttl,
                max_stale: self.max_stale,
                cooldown: self.cooldown,
                fetch_timeout: self.fetch_timeout,
                http,
                cache: RwLock::new(Cache {
                    keys: HashMap::new(),
                    fetched: None,
                    jwks_uri,
                    discovered: discovered.then_some(now),
                }),
                fetching: Mutex::new(Attempt {
                    number: 0,
                    error: None,
                }),
                attempts: AtomicU64::new(0),
                last_attempt_ms: AtomicU64::new(0),
                epoch: now,
                fetches: AtomicU64::new(0),
            }),
        };
        verifier.refresh(0).await?;
        Ok(verifier)
    }
}

async fn fetch_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    limit: Duration,
) -> Result<T, Error> {
    let fetch = async {
        let res = http
            .get(url)
            .send()
            .await
            .map_err(|e| Error::Fetch(format!("{url}: {e}")))?;
        if !res.status().is_success() {
            return Err(Error::Fetch(format!("{url}: HTTP {}", res.status())));
        }
        res.json()
            .await
            .map_err(|e| Error::Fetch(format!("{url}: {e}")))
    };
    tokio::time::timeout(limit, fetch)
        .await
        .map_err(|_| Error::Fetch(format!("{url}: timed out")))?
}

/// The JWKS address from the issuer's discovery document, whose `issuer` must be exactly
/// the one asked for (OpenID Connect Discovery 1.0 §4.3).
async fn discover(http: &reqwest::Client, issuer: &str, limit: Duration) -> Result<String, Error> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let doc: Value = fetch_json(http, &url, limit).await?;
    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err(Error::WrongIssuer);
    }
    Ok(doc
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Fetch(format!("{url}: no jwks_uri")))?
        .to_string())
}

/// The one algorithm a JWK may verify, from its key type (and its `alg`, which must agree);
/// keys not meant for signatures are skipped.
fn key_of(jwk: &Jwk) -> Option<Key> {
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return None;
    }
    let (alg, decoding) = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => (
            Algorithm::ES256,
            DecodingKey::from_ec_components(&p.x, &p.y).ok()?,
        ),
        AlgorithmParameters::RSA(p) => (
            Algorithm::RS256,
            DecodingKey::from_rsa_components(&p.n, &p.e).ok()?,
        ),
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => (
            Algorithm::EdDSA,
            DecodingKey::from_ed_components(&p.x).ok()?,
        ),
        // Symmetric keys and other curves are never accepted.
        _ => return None,
    };
    let declared = match jwk.common.key_algorithm {
        None => alg,
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
        Some(_) => return None,
    };
    (declared == alg).then_some(Key { alg, decoding })
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ES256",
        Algorithm::RS256 => "RS256",
        Algorithm::EdDSA => "EdDSA",
        _ => "",
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Verifier {
    /// Options for tokens of `issuer` (`{PUBLIC_URL}/pools/{pool}`).
    pub fn builder(issuer: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder {
            issuer: issuer.into(),
            audiences: Vec::new(),
            client_ids: Vec::new(),
            jwks_uri: None,
            leeway: 60,
            ttl: Duration::from_secs(300),
            max_stale: Duration::from_secs(3600),
            cooldown: Duration::from_secs(5),
            fetch_timeout: Duration::from_secs(10),
            http: None,
        }
    }

    /// Discovers `issuer` and accepts access tokens for `audience` (Gatehouse access tokens
    /// name the issuer itself).
    pub async fn discover(issuer: &str, audience: &str) -> Result<Self, Error> {
        Self::builder(issuer).audience(audience).build().await
    }

    /// How many times the JWKS was fetched successfully (for monitoring and tests).
    pub async fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// How many fetches were attempted, failed ones included.
    pub fn attempt_count(&self) -> u64 {
        self.inner.attempts.load(Ordering::Relaxed)
    }

    fn since_last_attempt(&self) -> Option<Duration> {
        let at = self.inner.last_attempt_ms.load(Ordering::Relaxed);
        (self.inner.attempts.load(Ordering::Relaxed) > 0).then(|| {
            self.inner
                .epoch
                .elapsed()
                .saturating_sub(Duration::from_millis(at))
        })
    }

    /// Fetches the JWKS (and the discovery document when it is due) unless another caller
    /// attempted since attempt `seen`; then that attempt's outcome is ours (single flight,
    /// failures included).
    async fn refresh(&self, seen: u64) -> Result<(), Error> {
        let mut attempt = self.inner.fetching.lock().await;
        if attempt.number != seen {
            return match &attempt.error {
                None => Ok(()),
                Some(e) => Err(Error::Fetch(e.clone())),
            };
        }
        attempt.number += 1;
        self.inner.attempts.store(attempt.number, Ordering::Relaxed);
        let ms = u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.inner.last_attempt_ms.store(ms, Ordering::Relaxed);
        let outcome = self.fetch().await;
        attempt.error = outcome.as_ref().err().map(ToString::to_string);
        outcome
    }

    async fn fetch(&self) -> Result<(), Error> {
        let (mut uri, discovered) = {
            let c = self.inner.cache.read().await;
            (c.jwks_uri.clone(), c.discovered)
        };
        let rediscover = discovered.is_some_and(|at| at.elapsed() > self.inner.ttl);
        if rediscover {
            uri = discover(
                &self.inner.http,
                &self.inner.issuer,
                self.inner.fetch_timeout,
            )
            .await?;
        }
        let set: JwkSet = fetch_json(&self.inner.http, &uri, self.inner.fetch_timeout).await?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), Some(key)) = (jwk.common.key_id.clone(), key_of(jwk)) else {
                continue;
            };
            match keys.entry(kid) {
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    // Two keys under one kid: neither can be trusted to be the signer's.
                    tracing::warn!(
                        kid = e.key().as_str(),
                        "duplicate kid in the JWKS; ignoring it"
                    );
                    e.insert(None);
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(Some(Arc::new(key)));
                }
            }
        }
        let keys = keys
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
        let now = Instant::now();
        let mut cache = self.inner.cache.write().await;
        *cache = Cache {
            keys,
            fetched: Some(now),
            jwks_uri: uri,
            discovered: if rediscover {
                Some(now)
            } else {
                cache.discovered
            },
        };
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The key for `kid`: from the cache; fetched again when the cache is stale or the kid is
    /// unknown, at most once per cooldown. Stale keys serve through fetch failures only up to
    /// `max_stale`.
    async fn key(&self, kid: &str) -> Result<Arc<Key>, Error> {
        let (found, age) = {
            let cache = self.inner.cache.read().await;
            (
                cache.keys.get(kid).cloned(),
                cache.fetched.map(|f| f.elapsed()),
            )
        };
        let seen = self.inner.attempts.load(Ordering::Relaxed);
        let cooling = self
            .since_last_attempt()
            .is_some_and(|d| d < self.inner.cooldown);
        let fresh = age.is_some_and(|a| a <= self.inner.ttl);
        match found {
            Some(key) if fresh => return Ok(key),
            Some(key) => {
                let usable = age.is_some_and(|a| a <= self.inner.ttl + self.inner.max_stale);
                let refreshed = if cooling {
                    Err(Error::Fetch("cooling down".into()))
                } else {
                    self.refresh(seen).await
                };
                if let Err(e) = refreshed {
                    if usable {
                        tracing::warn!(error = %e, "JWKS refresh failed; using the cached keys");
                        return Ok(key);
                    }
                    return Err(e);
                }
            }
            None => {
                if cooling {
                    return Err(Error::UnknownKey);
                }
                self.refresh(seen).await?;
            }
        }
        self.inner
            .cache
            .read()
            .await
            .keys
            .get(kid)
            .cloned()
            .ok_or(Error::UnknownKey)
    }

    /// Checks the header by its raw JSON (so `none`, `NONE`, HMAC, embedded keys, key URLs
    /// and `crit` are refused before any library sees them), then the signature with the key
    /// the `kid` names and only its algorithm, then the registered claims.
    async fn decode<T: DeserializeOwned + Issued>(
        &self,
        token: &str,
        access: bool,
    ) -> Result<T, Error> {
        let mut parts = token.split('.');
        let header_b64 = parts.next().ok_or(Error::Malformed)?;
        if parts.count() != 2 {
            return Err(Error::Malformed);
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| Error::Malformed)?;
        let header: RawHeader<'_> = serde_json::from_slice(&bytes).map_err(|_| Error::Malformed)?;
        if !matches!(header.alg.as_ref(), "ES256" | "RS256" | "EdDSA") {
            return Err(Error::Algorithm(header.alg.into_owned()));
        }
        for (name, present) in [
            ("jwk", header.jwk.is_some()),
            ("jku", header.jku.is_some()),
            ("x5u", header.x5u.is_some()),
            ("x5c", header.x5c.is_some()),
            ("crit", header.crit.is_some()),
        ] {
            if present {
                return Err(Error::ForbiddenHeader(name));
            }
        }
        // RFC 9068 §4: access tokens say "at+jwt" (or the full media type); an ID token
        // never does, so neither can pass for the other.
        let typ = header.typ.as_deref().unwrap_or("");
        let is_access =
            typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt");
        if access && !is_access {
            return Err(Error::NotAnAccessToken);
        }
        if !access && is_access {
            return Err(Error::NotAnIdToken);
        }
        let key = self
            .key(header.kid.as_deref().ok_or(Error::UnknownKey)?)
            .await?;
        if alg_name(key.alg) != header.alg {
            return Err(Error::AlgorithmMismatch);
        }
        let validation = self.inner.validation(key.alg, access)?;
        let data = jsonwebtoken::decode::<T>(token, &key.decoding, validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => Error::Expired,
                K::ImmatureSignature => Error::NotYetValid,
                K::InvalidIssuer => Error::WrongIssuer,
                K::InvalidAudience => Error::WrongAudience,
                K::InvalidSignature => Error::BadSignature,
                K::MissingRequiredClaim(_) => Error::Claim("registered claims"),
                K::InvalidAlgorithm => Error::AlgorithmMismatch,
                K::Json(_) => Error::Claim("claims"),
                _ => Error::Malformed,
            }
        })?;
        if data.claims.iat() > unix_now() + self.inner.leeway as i64 {
            return Err(Error::IssuedInFuture);
        }
        Ok(data.claims)
    }

    /// Validates an access token (`typ: at+jwt`) and returns its claims.
    pub async fn verify_access_token(&self, token: &str) -> Result<AccessClaims, Error> {
        self.decode(token, true).await
    }

    /// Validates an ID token issued to one of the configured client ids; `nonce`, when
    /// given, must match.
    pub async fn verify_id_token(
        &self,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<IdClaims, Error> {
        let claims: IdClaims = self.decode(token, false).await?;
        if let Some(n) = nonce
            && claims.nonce.as_deref() != Some(n)
        {
            return Err(Error::WrongNonce);
        }
        Ok(claims)
    }

    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }
}
