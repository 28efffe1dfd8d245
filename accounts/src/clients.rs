//! App clients (OAuth 2.0 clients, RFC 6749 §2): public or confidential, with exact redirect
//! URIs, the grants and scopes they may use, token lifetimes and the ID-token algorithm.
//! A confidential client's secret is 256 random bits, shown once and stored as a keyed hash.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::Error;
use crate::secret::{MasterKey, Secret, random_token};

/// A grant type a client may use (RFC 6749 §4): no implicit, no password grant. Ordered as
/// their names are, so a client's list sorts the same typed or stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum GrantType {
    AuthorizationCode,
    ClientCredentials,
    RefreshToken,
}

impl GrantType {
    pub const ALL: [GrantType; 3] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ];

    /// The `grant_type` parameter's value.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::RefreshToken => "refresh_token",
        }
    }
}

impl std::fmt::Display for GrantType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Not a grant type this gateway implements.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unsupported grant type")]
pub struct UnsupportedGrantType;

impl std::str::FromStr for GrantType {
    type Err = UnsupportedGrantType;

    fn from_str(s: &str) -> Result<Self, UnsupportedGrantType> {
        GrantType::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or(UnsupportedGrantType)
    }
}

/// One RFC 6749 §3.3 scope-token (`%x21 / %x23-5B / %x5D-7E`, at most 128 bytes), checked
/// on construction.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Scope(String);

impl Scope {
    pub fn parse(scope: &str) -> Result<Scope, Error> {
        check_scope(scope)?;
        Ok(Scope(scope.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Scope {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        check_scope(&s)?;
        Ok(Scope(s))
    }
}

impl From<Scope> for String {
    fn from(s: Scope) -> String {
        s.0
    }
}

impl PartialEq<str> for Scope {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The hash purpose of client secrets (a domain separator for the master key's HMAC).
const SECRET_PURPOSE: &str = "client-secret";

/// Settings of a client beyond its identity, stored as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientConfig {
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<Scope>,
    pub post_logout_redirect_uris: Vec<String>,
    /// Seconds; none: the pool's.
    pub access_token_ttl: Option<i64>,
    pub id_token_ttl: Option<i64>,
    pub refresh_token_ttl: Option<i64>,
    /// `ES256` (default) or `RS256`.
    pub id_token_signed_response_alg: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: ["openid", "email", "profile", "offline_access"]
                .map(|s| Scope(s.into()))
                .to_vec(),
            post_logout_redirect_uris: Vec::new(),
            access_token_ttl: None,
            id_token_ttl: None,
            refresh_token_ttl: None,
            id_token_signed_response_alg: "ES256".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ClientRecord {
    pub id: String,
    pub pool_id: crate::PoolId,
    pub name: String,
    pub public: bool,
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub config: ClientConfig,
    pub created_at: i64,
}

/// What an operator asks for (`POST /admin/v1/pools/{pool}/clients`, `gatehouse client
/// create`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct NewClient {
    pub name: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub public: bool,
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    pub access_token_ttl: Option<i64>,
    pub id_token_ttl: Option<i64>,
    pub refresh_token_ttl: Option<i64>,
    pub id_token_signed_response_alg: Option<String>,
}

fn invalid(why: impl Into<String>) -> Error {
    Error::InvalidClient(why.into())
}

/// RFC 8252 §7.3: loopback redirects may use http.
fn is_loopback(url: &Url) -> bool {
    matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// A redirect URI as OAuth 2.0 Security BCP (RFC 9700 §2.1) wants it: absolute, compared
/// exactly, no fragment (RFC 6749 §3.1.2), https (http only on loopback, RFC 8252 §7.3) or
/// a private-use scheme of reverse-domain form for native apps (RFC 8252 §7.1).
pub fn check_redirect_uri(uri: &str) -> Result<(), Error> {
    let bad = |why: &str| Err(invalid(format!("redirect URI {uri:?}: {why}")));
    if uri.len() > 2000 || uri.contains('*') || uri.chars().any(char::is_whitespace) {
        return bad("must be one exact URI, without wildcards or spaces");
    }
    let Ok(url) = Url::parse(uri) else {
        return bad("not an absolute URI");
    };
    if url.fragment().is_some() || uri.contains('#') {
        return bad("must not have a fragment");
    }
    if url.username() != "" || url.password().is_some() {
        return bad("must not carry credentials");
    }
    match url.scheme() {
        "https" if url.host_str().is_some() => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => bad("http is only allowed for loopback addresses"),
        s if s.contains('.') && !matches!(s, "javascript" | "data" | "file") => Ok(()),
        _ => bad("use https, http on loopback, or a reverse-domain private-use scheme"),
    }
}

/// RFC 6749 §3.3 scope-token: `%x21 / %x23-5B / %x5D-7E`.
pub fn check_scope(scope: &str) -> Result<(), Error> {
    let ok = !scope.is_empty()
        && scope.len() <= 128
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "scope {scope:?} is not a valid scope token"
        )))
    }
}

impl NewClient {
    /// Checks the request and builds the record, with the secret (confidential clients only)
    /// to show once.
    pub fn into_record(
        self,
        pool_id: crate::PoolId,
        master: &MasterKey,
        now: i64,
    ) -> Result<(ClientRecord, Option<Secret>), Error> {
        let name = self.name.trim().to_string();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(invalid("name: 1 to 100 characters"));
        }
        let mut config = ClientConfig::default();
        if let Some(given) = self.grant_types {
            config.grant_types = given
                .iter()
                .map(|g| {
                    g.parse::<GrantType>().map_err(|_| {
                        invalid(format!(
                            "grant type {g:?}: one of {} (no implicit, no password grant)",
                            GrantType::ALL.map(GrantType::as_str).join(", ")
                        ))
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        config.grant_types.sort();
        config.grant_types.dedup();
        if config.grant_types.is_empty() {
            return Err(invalid("at least one grant type"));
        }
        let has = |g: GrantType| config.grant_types.contains(&g);
        if self.public && has(GrantType::ClientCredentials) {
            return Err(invalid("a public client cannot use client_credentials"));
        }
        if has(GrantType::AuthorizationCode) && self.redirect_uris.is_empty() {
            return Err(invalid(
                "authorization_code needs at least one redirect URI",
            ));
        }
        if has(GrantType::RefreshToken) && !has(GrantType::AuthorizationCode) {
            return Err(invalid("refresh_token comes with authorization_code"));
        }
        for uri in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
        {
            check_redirect_uri(uri)?;
        }
        if let Some(given) = self.scopes {
            config.scopes = given
                .iter()
                .map(|s| Scope::parse(s))
                .collect::<Result<_, _>>()?;
        }
        config.scopes.sort();
        config.scopes.dedup();
        for (name, ttl, range) in [
            ("access_token_ttl", self.access_token_ttl, 300..=86_400),
            ("id_token_ttl", self.id_token_ttl, 300..=86_400),
            (
                "refresh_token_ttl",
                self.refresh_token_ttl,
                3600..=365 * 86_400,
            ),
        ] {
            if let Some(t) = ttl
                && !range.contains(&t)
            {
                return Err(invalid(format!(
                    "{name} must be {} to {} seconds",
                    range.start(),
                    range.end()
                )));
            }
        }
        config.access_token_ttl = self.access_token_ttl;
        config.id_token_ttl = self.id_token_ttl;
        config.refresh_token_ttl = self.refresh_token_ttl;
        config.post_logout_redirect_uris = self.post_logout_redirect_uris;
        if let Some(alg) = self.id_token_signed_response_alg {
            if !matches!(alg.as_str(), "ES256" | "RS256") {
                return Err(invalid("id_token_signed_response_alg: ES256 or RS256"));
            }
            config.id_token_signed_response_alg = alg;
        }
        let secret = (!self.public).then(random_token);
        let record = ClientRecord {
            id: client_id(),
            pool_id,
            name,
            public: self.public,
            secret_hash: secret
                .as_ref()
                .map(|s| master.hash(SECRET_PURPOSE, s.expose())),
            redirect_uris: self.redirect_uris,
            config,
            created_at: now,
        };
        Ok((record, secret))
    }
}

/// A client id: 128 random bits, lowercase base32-ish hex (never a secret).
fn client_id() -> String {
    hex::encode(crate::secret::random_bytes::<16>())
}

impl ClientRecord {
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.config.grant_types.contains(&grant)
    }

    /// Whether the client was registered with `scope`.
    pub fn allows_scope(&self, scope: &str) -> bool {
        self.config.scopes.iter().any(|s| s == scope)
    }

    /// Whether `secret` is this confidential client's secret (keyed hash, compared in
    /// constant time).
    pub fn secret_matches(&self, master: &MasterKey, secret: &str) -> bool {
        use subtle::ConstantTimeEq;
        match &self.secret_hash {
            Some(stored) => {
                let given = master.hash(SECRET_PURPOSE, secret);
                bool::from(given.as_bytes().ct_eq(stored.as_bytes()))
            }
            None => false,
        }
    }

    /// The client as the admin API shows it (never the secret or its hash).
    pub fn view(&self) -> ClientView {
        ClientView {
            client_id: self.id.clone(),
            name: self.name.clone(),
            public: self.public,
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.config.post_logout_redirect_uris.clone(),
            grant_types: self.config.grant_types.clone(),
            scopes: self.config.scopes.clone(),
            token_endpoint_auth_method: if self.public {
                "none"
            } else {
                "client_secret_basic"
            },
            access_token_ttl: self.config.access_token_ttl,
            id_token_ttl: self.config.id_token_ttl,
            refresh_token_ttl: self.config.refresh_token_ttl,
            id_token_signed_response_alg: self.config.id_token_signed_response_alg.clone(),
            created_at: self.created_at,
        }
    }
}

/// An app client as the admin API and the CLI show it: never its secret or the secret's
/// hash. The TTLs are null where the pool's defaults apply.
#[derive(Debug, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<Scope>,
    pub token_endpoint_auth_method: &'static str,
    pub access_token_ttl: Option<i64>,
    pub id_token_ttl: Option<i64>,
    pub refresh_token_ttl: Option<i64>,
    pub id_token_signed_response_alg: String,
    pub created_at: i64,
}

/// A client just registered: its view and, for a confidential client, its secret, shown
/// this once.
#[derive(Debug, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: ClientView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// `GET /admin/v1/pools/{pool}/clients`.
#[derive(Debug, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct ClientList {
    pub clients: Vec<ClientView>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn redirect_uris() {
        for ok in [
            "https://app.example/cb",
            "https://app.example:8443/cb?x=1",
            "http://127.0.0.1:5000/cb",
            "http://localhost/cb",
            "http://[::1]:8080/cb",
            "com.example.app:/oauth2redirect",
        ] {
            check_redirect_uri(ok).unwrap();
        }
        for bad in [
            "/cb",
            "http://app.example/cb",
            "https://app.example/cb#frag",
            "https://*.example/cb",
            "javascript:alert(1)",
            "myapp:/cb",
            "https://user:pw@app.example/cb",
            "https://app.example/ cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_and_grants() {
        check_scope("api:read").unwrap();
        assert!(check_scope("a b").is_err());
        assert!(check_scope("a\"b").is_err());
        let master = MasterKey::from_bytes(&[7; 32]).unwrap();
        let pool = crate::PoolId::new();
        let public_cc = NewClient {
            name: "x".into(),
            public: true,
            grant_types: Some(vec!["client_credentials".into()]),
            ..NewClient::default()
        };
        assert!(public_cc.into_record(pool, &master, 0).is_err());
        let implicit = NewClient {
            name: "x".into(),
            grant_types: Some(vec!["implicit".into()]),
            ..NewClient::default()
        };
        assert!(implicit.into_record(pool, &master, 0).is_err());
        let (rec, secret) = NewClient {
            name: "svc".into(),
            grant_types: Some(vec!["client_credentials".into()]),
            scopes: Some(vec!["api:read".into()]),
            ..NewClient::default()
        }
        .into_record(pool, &master, 0)
        .unwrap();
        let secret = secret.unwrap();
        assert!(rec.secret_matches(&master, secret.expose()));
        assert!(!rec.secret_matches(&master, "nope"));
        assert!(
            !serde_json::to_string(&rec.view())
                .unwrap()
                .contains(secret.expose())
        );
        assert!(rec.allows_grant(GrantType::ClientCredentials));
        assert!(!rec.allows_grant(GrantType::RefreshToken));
        assert!(rec.allows_scope("api:read") && !rec.allows_scope("openid"));
    }

    #[test]
    fn typed_grants_and_scopes_keep_their_stored_form() {
        let config = ClientConfig::default();
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(
            json["grant_types"],
            serde_json::json!(["authorization_code", "refresh_token"])
        );
        assert_eq!(
            json["scopes"],
            serde_json::json!(["openid", "email", "profile", "offline_access"])
        );
        assert_eq!(
            serde_json::from_value::<ClientConfig>(json).unwrap(),
            config
        );
        for g in GrantType::ALL {
            assert_eq!(g.as_str().parse::<GrantType>(), Ok(g));
        }
        assert!("implicit".parse::<GrantType>().is_err());
        assert!(serde_json::from_str::<Scope>("\"a b\"").is_err());
    }
}
