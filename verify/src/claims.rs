//! Typed claims of Gatehouse tokens.

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A CAIP-10 account id of an EVM wallet: `eip155:{chain id}:{address}`. Addresses compare
/// case-insensitively; `Display` keeps the form the token carried (EIP-55).
#[derive(Clone, Debug, Eq)]
pub struct Caip10 {
    pub namespace: String,
    pub chain_id: String,
    pub address: String,
}

impl PartialEq for Caip10 {
    fn eq(&self, other: &Self) -> bool {
        self.namespace == other.namespace
            && self.chain_id == other.chain_id
            && self.address.eq_ignore_ascii_case(&other.address)
    }
}

impl FromStr for Caip10 {
    type Err = crate::Error;

    /// CAIP-10: `namespace:reference:address` with CAIP-2 limits on the first two parts.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || crate::Error::Claim("wallets");
        let mut parts = s.splitn(3, ':');
        let (ns, chain, address) = (
            parts.next().ok_or_else(bad)?,
            parts.next().ok_or_else(bad)?,
            parts.next().ok_or_else(bad)?,
        );
        let ns_ok = (3..=8).contains(&ns.len())
            && ns
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let chain_ok = (1..=32).contains(&chain.len())
            && chain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let addr_ok = (1..=128).contains(&address.len())
            && address
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.%".contains(&b));
        if !(ns_ok && chain_ok && addr_ok) {
            return Err(bad());
        }
        Ok(Self {
            namespace: ns.into(),
            chain_id: chain.into(),
            address: address.into(),
        })
    }
}

impl fmt::Display for Caip10 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.namespace, self.chain_id, self.address)
    }
}

impl Serialize for Caip10 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Caip10 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn space_separated<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    Ok(s.map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default())
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Aud::deserialize(d)? {
        Aud::One(s) => vec![s],
        Aud::Many(v) => v,
    })
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `aud` as tokens carry it: one string for one audience (RFC 7519 §4.1.3), else an array.
struct Audience<'a>(&'a [String]);

impl Serialize for Audience<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

/// The claims of a Gatehouse access token (RFC 9068 plus Gatehouse's own). They serialize
/// as the gateway issues them (it builds its tokens from this struct): `aud` one string
/// for one audience, `scope` space-separated, absent options left out, and the user claims
/// (`amr`, `groups`, `wallets`) only in a user's token, never in a client's own.
#[derive(Clone, Debug, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The account: a UUID that never changes, whatever credential signed in.
    pub sub: String,
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    pub client_id: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, deserialize_with = "space_separated")]
    pub scope: Vec<String>,
    /// When the user authenticated; absent from a client's own token (`client_credentials`).
    #[serde(default)]
    pub auth_time: Option<i64>,
    /// How the user signed in: `pwd`, `otp`, `mfa`, `siwe`, `fed`, `email`.
    #[serde(default)]
    pub amr: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Every wallet linked to the account.
    #[serde(default)]
    pub wallets: Vec<Caip10>,
    /// The wallet that signed this sign-in, if one did.
    #[serde(default)]
    pub wallet: Option<Caip10>,
    /// The upstream identity provider (its name in the pool) of a federated sign-in.
    #[serde(default)]
    pub idp: Option<String>,
    #[serde(default)]
    pub sid: Option<String>,
}

impl Serialize for AccessClaims {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let user = self.sid.is_some() || self.auth_time.is_some();
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("iss", &self.iss)?;
        m.serialize_entry("sub", &self.sub)?;
        m.serialize_entry("aud", &Audience(&self.aud))?;
        m.serialize_entry("client_id", &self.client_id)?;
        m.serialize_entry("iat", &self.iat)?;
        m.serialize_entry("exp", &self.exp)?;
        m.serialize_entry("jti", &self.jti)?;
        m.serialize_entry("scope", &self.scope.join(" "))?;
        if let Some(t) = self.auth_time {
            m.serialize_entry("auth_time", &t)?;
        }
        if user {
            m.serialize_entry("amr", &self.amr)?;
            m.serialize_entry("groups", &self.groups)?;
            m.serialize_entry("wallets", &self.wallets)?;
        }
        if let Some(w) = &self.wallet {
            m.serialize_entry("wallet", w)?;
        }
        if let Some(idp) = &self.idp {
            m.serialize_entry("idp", idp)?;
        }
        if let Some(sid) = &self.sid {
            m.serialize_entry("sid", sid)?;
        }
        m.end()
    }
}

impl AccessClaims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.iter().any(|s| s == scope)
    }

    /// Whether `wallet` (CAIP-10, any case) is linked to the account.
    pub fn has_wallet(&self, wallet: &str) -> bool {
        wallet
            .parse::<Caip10>()
            .is_ok_and(|w| self.wallets.contains(&w))
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    pub fn signed_in_with(&self, method: &str) -> bool {
        self.amr.iter().any(|m| m == method)
    }

    /// Whether the user authenticated (not refreshed) within `max_age`; never for a
    /// client's own token.
    pub fn authenticated_within(&self, max_age: Duration) -> bool {
        self.auth_time
            .is_some_and(|t| now() - t <= max_age.as_secs() as i64)
    }

    /// Whether the token is a client's own (`client_credentials`: no user, `sub` is the
    /// client id), not a user's. A backend that serves users refuses these.
    pub fn is_client_token(&self) -> bool {
        self.sid.is_none() && self.auth_time.is_none() && self.sub == self.client_id
    }
}

/// The claims of a Gatehouse ID token (OpenID Connect Core §2 plus `wallets`). They
/// serialize as the gateway issues them: `aud` one string for one audience, absent options
/// left out, except that `email_verified` (given with the `email` scope) brings `email`
/// along, `null` for an account without one.
#[derive(Clone, Debug, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    pub iat: i64,
    pub exp: i64,
    #[serde(default)]
    pub auth_time: Option<i64>,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub amr: Vec<String>,
    /// The authentication context class reached (OIDC Core §2): `mfa` after a second factor.
    #[serde(default)]
    pub acr: Option<String>,
    /// The upstream identity provider of a federated sign-in.
    #[serde(default)]
    pub idp: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    #[serde(default)]
    pub wallets: Vec<Caip10>,
    /// The session (OIDC Front-Channel Logout 1.0 §3); the gateway always sets it.
    #[serde(default)]
    pub sid: Option<String>,
}

impl Serialize for IdClaims {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("iss", &self.iss)?;
        m.serialize_entry("sub", &self.sub)?;
        m.serialize_entry("aud", &Audience(&self.aud))?;
        m.serialize_entry("iat", &self.iat)?;
        m.serialize_entry("exp", &self.exp)?;
        if let Some(t) = self.auth_time {
            m.serialize_entry("auth_time", &t)?;
        }
        if let Some(n) = &self.nonce {
            m.serialize_entry("nonce", n)?;
        }
        m.serialize_entry("amr", &self.amr)?;
        if let Some(acr) = &self.acr {
            m.serialize_entry("acr", acr)?;
        }
        if let Some(idp) = &self.idp {
            m.serialize_entry("idp", idp)?;
        }
        if let Some(sid) = &self.sid {
            m.serialize_entry("sid", sid)?;
        }
        m.serialize_entry("wallets", &self.wallets)?;
        if self.email.is_some() || self.email_verified.is_some() {
            m.serialize_entry("email", &self.email)?;
        }
        if let Some(v) = self.email_verified {
            m.serialize_entry("email_verified", &v)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caip10() {
        let a: Caip10 = "eip155:1:0xAbC0000000000000000000000000000000000001"
            .parse()
            .unwrap();
        let b: Caip10 = "eip155:1:0xabc0000000000000000000000000000000000001"
            .parse()
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.to_string(),
            "eip155:1:0xAbC0000000000000000000000000000000000001"
        );
        for bad in [
            "",
            "eip155",
            "eip155:1",
            "EIP155:1:0x1",
            "eip155::0x1",
            "eip155:1:0x1 2",
        ] {
            assert!(bad.parse::<Caip10>().is_err(), "{bad}");
        }
    }

    #[test]
    fn claims_serialize_as_tokens_carry_them() {
        let user: AccessClaims = serde_json::from_value(serde_json::json!({
            "iss": "https://id.example/pools/main", "sub": "u", "aud": "https://id.example/pools/main",
            "client_id": "direct", "iat": 1, "exp": 2, "jti": "j", "scope": "openid email",
            "auth_time": 1, "amr": ["pwd"], "groups": [], "wallets": [], "sid": "s",
        }))
        .unwrap();
        let json = serde_json::to_value(&user).unwrap();
        assert_eq!(json["aud"], "https://id.example/pools/main");
        assert_eq!(json["scope"], "openid email");
        assert_eq!(json["groups"], serde_json::json!([]));
        assert!(json.get("wallet").is_none());
        let again: AccessClaims = serde_json::from_value(json).unwrap();
        assert_eq!(again.scope, ["openid", "email"]);

        let client: AccessClaims = serde_json::from_value(serde_json::json!({
            "iss": "i", "sub": "c", "aud": ["i", "j"], "client_id": "c", "iat": 1, "exp": 2,
            "jti": "j", "scope": "",
        }))
        .unwrap();
        assert!(client.is_client_token());
        let json = serde_json::to_value(&client).unwrap();
        assert_eq!(json["aud"], serde_json::json!(["i", "j"]));
        for absent in ["amr", "groups", "wallets", "auth_time", "sid"] {
            assert!(json.get(absent).is_none(), "{absent}");
        }

        let id: IdClaims = serde_json::from_value(serde_json::json!({
            "iss": "i", "sub": "u", "aud": "c", "iat": 1, "exp": 2, "auth_time": 1,
            "amr": ["siwe"], "wallets": [], "email": null, "email_verified": false,
        }))
        .unwrap();
        let json = serde_json::to_value(&id).unwrap();
        assert_eq!(json["email"], serde_json::Value::Null);
        assert_eq!(json["email_verified"], false);
        assert!(json.get("nonce").is_none() && json.get("sid").is_none());
    }
}
