//! The verifier: discovery, the JWKS cache, and the checks every token goes through.

use base64::Engine as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, RwLock};

use crate::{AccessClaims, Error, IdClaims};

/// A published key, usable for exactly one algorithm.
struct Key {
    alg: Algorithm,
    decoding: DecodingKey,
}

struct Cache {
    keys: HashMap<String, Arc<Key>>,
    fetched: Option<Instant>,
}

struct Inner {
    issuer: String,
    audiences: Vec<String>,
    jwks_uri: String,
    leeway: u64,
    ttl: Duration,
    cooldown: Duration,
    http: reqwest::Client,
    cache: RwLock<Cache>,
    /// Serialises fetches (single flight) and remembers the last one.
    fetching: Mutex<Option<Instant>>,
    fetches: std::sync::atomic::AtomicU64,
}

/// Validates tokens of one issuer for one or more audiences. Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

/// Options of a [`Verifier`].
pub struct VerifierBuilder {
    issuer: String,
    audiences: Vec<String>,
    jwks_uri: Option<String>,
    leeway: u64,
    ttl: Duration,
    cooldown: Duration,
    http: Option<reqwest::Client>,
}

impl VerifierBuilder {
    /// Accept tokens for this audience too (access tokens: the issuer; ID tokens: the client).
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audiences.push(aud.into());
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.as_secs();
        self
    }

    /// How long a fetched JWKS is used before it is fetched again (default 5 minutes).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The least time between two fetches caused by unknown `kid`s (default 5 s).
    pub fn refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
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
        let http = match self.http {
            Some(c) => c,
            None => reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::Fetch(e.to_string()))?,
        };
        let jwks_uri = match self.jwks_uri {
            Some(u) => u,
            None => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.issuer.trim_end_matches('/')
                );
                let doc: Value = fetch_json(&http, &url).await?;
                // OpenID Connect Discovery §4.3: the document's issuer must be the one asked for.
                if doc.get("issuer").and_then(Value::as_str) != Some(self.issuer.as_str()) {
                    return Err(Error::WrongIssuer);
                }
                doc.get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Error::Fetch(format!("{url}: no jwks_uri")))?
                    .to_string()
            }
        };
        let verifier = Verifier {
            inner: Arc::new(Inner {
                issuer: self.issuer,
                audiences: self.audiences,
                jwks_uri,
                leeway: self.leeway,
                ttl: self.ttl,
                cooldown: self.cooldown,
                http,
                cache: RwLock::new(Cache {
                    keys: HashMap::new(),
                    fetched: None,
                }),
                fetching: Mutex::new(None),
                fetches: std::sync::atomic::AtomicU64::new(0),
            }),
        };
        verifier.refresh(None).await?;
        Ok(verifier)
    }
}

async fn fetch_json<T: DeserializeOwned>(http: &reqwest::Client, url: &str) -> Result<T, Error> {
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
}

/// The one algorithm a JWK may verify, from its key type (and its `alg`, which must agree).
fn key_of(jwk: &Jwk) -> Option<Key> {
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
            jwks_uri: None,
            leeway: 60,
            ttl: Duration::from_secs(300),
            cooldown: Duration::from_secs(5),
            http: None,
        }
    }

    /// Discovers `issuer` and accepts tokens for `audience`.
    pub async fn discover(issuer: &str, audience: &str) -> Result<Self, Error> {
        Self::builder(issuer).audience(audience).build().await
    }

    /// How many times the JWKS was fetched (for monitoring and tests).
    pub async fn fetch_count(&self) -> u64 {
        self.inner
            .fetches
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Fetches the JWKS unless another caller did since `seen` (single flight).
    async fn refresh(&self, seen: Option<Instant>) -> Result<(), Error> {
        let mut last = self.inner.fetching.lock().await;
        if last.is_some() && *last != seen {
            return Ok(()); // someone else fetched while we waited
        }
        let set: JwkSet = fetch_json(&self.inner.http, &self.inner.jwks_uri).await?;
        self.inner
            .fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, Arc::new(key_of(jwk)?))))
            .collect();
        let at = Instant::now();
        *self.inner.cache.write().await = Cache {
            keys,
            fetched: Some(at),
        };
        *last = Some(at);
        Ok(())
    }

    /// The key for `kid`: from the cache; refetched when the cache is stale, or when the kid
    /// is unknown and the last fetch is older than the cooldown.
    async fn key(&self, kid: &str) -> Result<Arc<Key>, Error> {
        let (found, fetched) = {
            let cache = self.inner.cache.read().await;
            (cache.keys.get(kid).cloned(), cache.fetched)
        };
        let age = fetched.map(|f| f.elapsed());
        let stale = age.is_none_or(|a| a > self.inner.ttl);
        match found {
            Some(key) if !stale => return Ok(key),
            Some(key) => {
                // Stale: refresh, but a fetch failure keeps the keys we have.
                if let Err(e) = self.refresh(fetched).await {
                    tracing::warn!(error = %e, "JWKS refresh failed; using the cached keys");
                    return Ok(key);
                }
            }
            None => {
                if age.is_some_and(|a| a < self.inner.cooldown) {
                    return Err(Error::UnknownKey);
                }
                self.refresh(fetched).await?;
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
    async fn decode<T: DeserializeOwned>(
        &self,
        token: &str,
        typ: Option<&str>,
    ) -> Result<(Value, T), Error> {
        let header_b64 = token.split('.').next().ok_or(Error::Malformed)?;
        if token.split('.').count() != 3 {
            return Err(Error::Malformed);
        }
        let header: Value = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header_b64)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(Error::Malformed)?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(Error::Malformed)?;
        if !matches!(alg, "ES256" | "RS256" | "EdDSA") {
            return Err(Error::Algorithm(alg.to_string()));
        }
        for forbidden in ["jwk", "jku", "x5u", "x5c", "crit"] {
            if header.get(forbidden).is_some() {
                return Err(Error::ForbiddenHeader(forbidden));
            }
        }
        if let Some(expected) = typ {
            let actual = header.get("typ").and_then(Value::as_str).unwrap_or("");
            // RFC 9068 §4: "at+jwt", or the full media type.
            if !actual.eq_ignore_ascii_case(expected)
                && !actual.eq_ignore_ascii_case(&format!("application/{expected}"))
            {
                return Err(Error::NotAnAccessToken);
            }
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or(Error::UnknownKey)?;
        let key = self.key(kid).await?;
        if alg_name(key.alg) != alg {
            return Err(Error::AlgorithmMismatch);
        }
        let mut v = Validation::new(key.alg);
        v.leeway = self.inner.leeway;
        v.set_issuer(&[&self.inner.issuer]);
        v.set_audience(&self.inner.audiences);
        v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        let data = jsonwebtoken::decode::<Value>(token, &key.decoding, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => Error::Expired,
                K::ImmatureSignature => Error::NotYetValid,
                K::InvalidIssuer => Error::WrongIssuer,
                K::InvalidAudience => Error::WrongAudience,
                K::InvalidSignature => Error::BadSignature,
                K::MissingRequiredClaim(_) => Error::Claim("registered claims"),
                K::InvalidAlgorithm => Error::AlgorithmMismatch,
                _ => Error::Malformed,
            }
        })?;
        let iat = data
            .claims
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or(Error::Claim("iat"))?;
        if iat > unix_now() + self.inner.leeway as i64 {
            return Err(Error::IssuedInFuture);
        }
        let typed =
            serde_json::from_value(data.claims.clone()).map_err(|_| Error::Claim("claims"))?;
        Ok((data.claims, typed))
    }

    /// Validates an access token (`typ: at+jwt`) and returns its claims.
    pub async fn verify_access_token(&self, token: &str) -> Result<AccessClaims, Error> {
        Ok(self.decode(token, Some("at+jwt")).await?.1)
    }

    /// Validates an ID token; `nonce`, when given, must match.
    pub async fn verify_id_token(
        &self,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<IdClaims, Error> {
        let (_, claims): (Value, IdClaims) = self.decode(token, None).await?;
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
