//! An upstream ID token, checked as OIDC Core §3.1.3.7 says: the signature against the IdP's
//! JWKS with an algorithm the IdP's metadata (or the configuration) allows, the issuer (the
//! `{tenantid}` template filled from the token's own `tid` for Microsoft's multi-tenant
//! endpoint), the audience (our client id; with several, `azp` must be ours), the nonce
//! of this very sign-in, and `exp`/`nbf`/`iat` against the gateway's clock with a small
//! skew. An unknown `kid` fetches the JWKS again at most once a minute per IdP, so a
//! stream of forged tokens cannot make the gateway hammer the IdP.

use accounts::idp::IdpConfig;
use accounts::store::IdpRecord;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use super::{Endpoints, Error, Federation};

/// Clock skew allowed on `exp`, `nbf` and `iat`, seconds.
const SKEW: i64 = 60;
/// The least time between two fetches of one JWKS, seconds.
const REFETCH_AFTER: i64 = 60;

/// JWKS by URI, with when each was fetched.
#[derive(Default)]
pub struct JwksCache {
    sets: Mutex<HashMap<String, (Arc<JwkSet>, i64)>>,
}

fn refused(why: &str) -> Error {
    Error::Refused(why.to_string())
}

impl JwksCache {
    fn cached(&self, uri: &str) -> Option<(Arc<JwkSet>, i64)> {
        self.sets.lock().ok()?.get(uri).cloned()
    }

    async fn fetch(&self, fed: &Federation, uri: &str, now: i64) -> Result<Arc<JwkSet>, Error> {
        let value = fed.get_json(uri, None).await?;
        let set: JwkSet =
            serde_json::from_value(value).map_err(|_| refused("a JWKS of the wrong shape"))?;
        let set = Arc::new(set);
        if let Ok(mut m) = self.sets.lock() {
            m.insert(uri.to_string(), (set.clone(), now));
        }
        Ok(set)
    }

    /// The key `kid` names (or the only key, when the token names none), fetching the JWKS
    /// when it is not cached, and again for an unknown `kid` once a minute at most.
    async fn key(
        &self,
        fed: &Federation,
        uri: &str,
        kid: Option<&str>,
        now: i64,
    ) -> Result<DecodingKey, Error> {
        let pick = |set: &JwkSet| match kid {
            Some(k) => set.find(k).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        let set = match self.cached(uri) {
            Some((set, at)) => match pick(&set) {
                Some(jwk) => {
                    return DecodingKey::from_jwk(&jwk).map_err(|_| refused("an unusable key"));
                }
                None if now < at + REFETCH_AFTER => {
                    return Err(refused("a key the IdP does not publish"));
                }
                None => self.fetch(fed, uri, now).await?,
            },
            None => self.fetch(fed, uri, now).await?,
        };
        let jwk = pick(&set).ok_or_else(|| refused("a key the IdP does not publish"))?;
        DecodingKey::from_jwk(&jwk).map_err(|_| refused("an unusable key"))
    }

    /// The claims of a valid ID token of this sign-in.
    pub async fn validate(
        &self,
        fed: &Federation,
        idp: &IdpRecord,
        endpoints: &Endpoints,
        token: &str,
        nonce: &str,
        now: i64,
    ) -> Result<Map<String, Value>, Error> {
        let c = &idp.config;
        let header = jsonwebtoken::decode_header(token).map_err(|_| refused("not a signed JWT"))?;
        let alg = format!("{:?}", header.alg);
        if !endpoints.algs.contains(&alg) {
            return Err(refused("an ID token algorithm the IdP does not use"));
        }
        let uri = endpoints
            .jwks_uri
            .as_deref()
            .ok_or_else(|| refused("no JWKS"))?;
        let key = self.key(fed, uri, header.kid.as_deref(), now).await?;
        let algorithm =
            jsonwebtoken::Algorithm::from_str(&alg).map_err(|_| refused("an unknown algorithm"))?;
        let mut v = Validation::new(algorithm);
        v.set_audience(&[c.client_id.as_str()]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Times against the gateway's clock, below.
        v.validate_exp = false;
        v.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &v)
            .map_err(|e| Error::Refused(format!("the ID token: {e}")))?
            .claims;
        check_claims(c, endpoints, &claims, nonce, now)?;
        Ok(claims)
    }
}

/// Everything but the signature and audience (which `jsonwebtoken` checked).
fn check_claims(
    c: &IdpConfig,
    endpoints: &Endpoints,
    claims: &Map<String, Value>,
    nonce: &str,
    now: i64,
) -> Result<(), Error> {
    let num = |k: &str| claims.get(k).and_then(Value::as_i64);
    let text = |k: &str| claims.get(k).and_then(Value::as_str);
    let template = endpoints
        .issuer
        .as_deref()
        .ok_or_else(|| refused("no issuer"))?;
    let tid = text("tid");
    let expected = IdpConfig::expected_issuer(template, tid)
        .ok_or_else(|| refused("no tenant in the token"))?;
    if text("iss") != Some(expected.as_str()) {
        return Err(refused("an ID token from another issuer"));
    }
    if !c.tenants.is_empty() && !tid.is_some_and(|t| c.tenants.iter().any(|x| x == t)) {
        return Err(refused("a tenant this IdP does not allow"));
    }
    // OIDC Core §3.1.3.7 (4, 5): with several audiences, `azp` must be there and be us.
    let several = claims
        .get("aud")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() > 1);
    match text("azp") {
        Some(azp) if azp != c.client_id => return Err(refused("issued to another party")),
        None if several => return Err(refused("several audiences without `azp`")),
        _ => {}
    }
    if text("nonce") != Some(nonce) {
        return Err(refused("the nonce is not this sign-in's"));
    }
    match num("exp") {
        Some(exp) if now < exp + SKEW => {}
        _ => return Err(refused("an expired ID token")),
    }
    if num("nbf").is_some_and(|nbf| now + SKEW < nbf) {
        return Err(refused("an ID token not valid yet"));
    }
    if num("iat").is_some_and(|iat| now + SKEW < iat) {
        return Err(refused("an ID token issued in the future"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> IdpConfig {
        let input = json!({"kind": "oidc", "client_id": "app", "display_name": "X",
            "discovery_url": "https://idp.example/.well-known/openid-configuration",
            "scopes": ["openid"]});
        accounts::idp::parse_config(input.as_object().cloned().unwrap_or_default()).expect("config")
    }

    fn endpoints(issuer: &str) -> Endpoints {
        Endpoints {
            authorize: String::new(),
            token: String::new(),
            userinfo: None,
            jwks_uri: None,
            issuer: Some(issuer.into()),
            algs: vec!["RS256".into()],
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn claims_are_checked_one_by_one() {
        let c = config();
        let e = endpoints("https://idp.example");
        let good = json!({"iss": "https://idp.example", "aud": "app", "sub": "1",
            "nonce": "n1", "exp": 1000, "iat": 900});
        assert!(check_claims(&c, &e, &claims(good.clone()), "n1", 950).is_ok());
        let with = |k: &str, v: Value| {
            let mut m = claims(good.clone());
            m.insert(k.into(), v);
            m
        };
        for (m, now, why) in [
            (claims(good.clone()), 950, "n2"),
            (with("iss", json!("https://evil.example")), 950, "n1"),
            (with("azp", json!("other")), 950, "n1"),
            (with("aud", json!(["app", "other"])), 950, "n1"),
            (with("nbf", json!(2000)), 950, "n1"),
            (with("iat", json!(5000)), 950, "n1"),
            (claims(good.clone()), 1061, "n1"),
        ] {
            assert!(
                check_claims(&c, &e, &m, why, now).is_err(),
                "{m:?} at {now}"
            );
        }
        let mut m = with("aud", json!(["app", "other"]));
        m.insert("azp".into(), json!("app"));
        assert!(check_claims(&c, &e, &m, "n1", 950).is_ok());
    }

    #[test]
    fn microsoft_tenants_fill_the_issuer() {
        let mut c = config();
        let e = endpoints("https://login.microsoftonline.com/{tenantid}/v2.0");
        let tid = "9188040d-6c67-4c5b-b112-36a304b66dad";
        let m = claims(
            json!({"iss": format!("https://login.microsoftonline.com/{tid}/v2.0"),
            "tid": tid, "aud": "app", "sub": "1", "nonce": "n", "exp": 1000}),
        );
        assert!(check_claims(&c, &e, &m, "n", 950).is_ok());
        // The issuer must be the token's own tenant's.
        let mut other = m.clone();
        other.insert("tid".into(), json!("00000000-0000-0000-0000-000000000000"));
        assert!(check_claims(&c, &e, &other, "n", 950).is_err());
        c.tenants = vec!["00000000-0000-0000-0000-000000000001".into()];
        assert!(check_claims(&c, &e, &m, "n", 950).is_err());
    }
}
