//! Upstream identity providers (DESIGN, Concepts and Federation): how a pool trusts an IdP
//! for sign-in. The configuration is JSON the admin API takes and returns (its secrets apart:
//! sealed with the master key, never returned). Presets fill the fixed parts of Google,
//! Microsoft (Entra ID), Apple and GitHub; any field given overrides the preset's.
//!
//! The upstream protocol itself (discovery, the code exchange, ID token validation) is the
//! gateway's; this side validates and stores what an operator configured.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

use crate::Error;

/// The protocol an IdP speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum IdpKind {
    /// OpenID Connect: discovery, an ID token validated against the IdP's JWKS.
    Oidc,
    /// OAuth 2.0 without OIDC (GitHub): the user-info URL says who signed in.
    Oauth2,
    /// SAML 2.0: the IdP's metadata, a signed Response at the ACS.
    Saml,
}

/// The IdPs whose fixed parts Gatehouse knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    Google,
    Microsoft,
    Apple,
    Github,
}

/// How the gateway authenticates to the IdP's token endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic with the client secret (RFC 6749 §2.3.1).
    #[default]
    ClientSecretBasic,
    /// The client secret in the form body.
    ClientSecretPost,
    /// An ES256 JWT signed with the IdP's configured key (RFC 7523, OIDC Core §9).
    PrivateKeyJwt,
    /// Apple's: the client secret is an ES256 JWT signed with the team's key, posted.
    AppleSecretJwt,
}

/// A pool's configuration of one IdP, as stored and as the admin API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IdpConfig {
    pub kind: IdpKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    /// The button's words: "Sign in with {display_name}".
    #[serde(default)]
    pub display_name: String,
    /// A disabled IdP shows no button and signs no one in; its identities stay.
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// The `kid` of the key a `private_key_jwt` or Apple secret is signed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Apple's team id (the secret's `iss`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    /// OIDC: the discovery document's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_url: Option<String>,
    /// OIDC: the issuer ID tokens must carry (default: the discovery document's). Microsoft's
    /// multi-tenant issuer holds `{tenantid}`, filled from the token's own `tid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Microsoft: the tenants allowed to sign in (their ids); empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<String>,
    /// Endpoints (OAuth 2.0; for OIDC they override the discovery document's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_url: Option<String>,
    /// GitHub's `/user/emails`: the verified primary address is read there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emails_url: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The field naming the upstream subject (OAuth 2.0 user-info; OIDC uses `sub`).
    #[serde(default = "sub")]
    pub subject_field: String,
    #[serde(default = "email")]
    pub email_field: String,
    #[serde(default = "email_verified")]
    pub email_verified_field: String,
    /// Account attribute ← upstream claim, copied on every sign-in.
    #[serde(default)]
    pub attribute_mapping: BTreeMap<String, String>,
    /// Whether an email this IdP asserts verified becomes the account's email (and so may
    /// ask to link to an account that has it). Off: the account keeps no email from it.
    #[serde(default)]
    pub trust_email: bool,
    /// `form_post` (Apple) or none (the query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mode: Option<String>,
    /// The ID token algorithms accepted (default: what the IdP's metadata lists, of RS256,
    /// RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token_algs: Vec<String>,
    /// SAML: the IdP's metadata (an `EntityDescriptor`), as XML or where to fetch it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_xml: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_url: Option<String>,
    /// SAML: the NameID format asked for (default: persistent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_id_format: Option<String>,
    /// SAML: whether RSA-SHA1 signatures and SHA-1 digests are accepted (an old IdP's).
    #[serde(default)]
    pub allow_sha1: bool,
}

fn yes() -> bool {
    true
}
fn sub() -> String {
    "sub".into()
}
fn email() -> String {
    "email".into()
}
fn email_verified() -> String {
    "email_verified".into()
}

/// What an IdP keeps sealed.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct IdpSecrets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// A PKCS#8 PEM EC P-256 private key (`private_key_jwt`, Apple).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
}

impl std::fmt::Debug for IdpSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdpSecrets").finish_non_exhaustive()
    }
}

/// The longest IdP name; names are what `/federation/{idp}` and `idp` claims carry.
pub const IDP_NAME_MAX: usize = 32;

/// Whether `name` may name an IdP: 1-32 of `a-z0-9-`, starting with a letter.
pub fn valid_name(name: &str) -> bool {
    (1..=IDP_NAME_MAX).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The ID token algorithms the gateway can check.
pub const ID_TOKEN_ALGS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// The fixed parts of a preset, as JSON fields under what the operator gave.
fn preset_fields(preset: Preset) -> Value {
    match preset {
        Preset::Google => serde_json::json!({
            "kind": "oidc",
            "display_name": "Google",
            "discovery_url": "https://accounts.google.com/.well-known/openid-configuration",
            "scopes": ["openid", "email", "profile"],
            "trust_email": true,
            "attribute_mapping": {"name": "name", "given_name": "given_name", "family_name": "family_name", "picture": "picture"},
        }),
        // Entra ID's `email` is whatever the tenant's admin typed, unverified (the "nOAuth"
        // takeover): never trusted, whatever the token says.
        Preset::Microsoft => serde_json::json!({
            "kind": "oidc",
            "display_name": "Microsoft",
            "discovery_url": "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration",
            "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
            "scopes": ["openid", "email", "profile"],
            "trust_email": false,
            "attribute_mapping": {"name": "name"},
        }),
        Preset::Apple => serde_json::json!({
            "kind": "oidc",
            "display_name": "Apple",
            "discovery_url": "https://appleid.apple.com/.well-known/openid-configuration",
            "scopes": ["openid", "name", "email"],
            "client_auth": "apple_secret_jwt",
            "response_mode": "form_post",
            "trust_email": true,
        }),
        Preset::Github => serde_json::json!({
            "kind": "oauth2",
            "display_name": "GitHub",
            "authorize_url": "https://github.com/login/oauth/authorize",
            "token_url": "https://github.com/login/oauth/access_token",
            "userinfo_url": "https://api.github.com/user",
            "emails_url": "https://api.github.com/user/emails",
            "scopes": ["read:user", "user:email"],
            "client_auth": "client_secret_post",
            "subject_field": "id",
            "trust_email": true,
            "attribute_mapping": {"name": "name", "nickname": "login", "picture": "avatar_url"},
        }),
    }
}

/// An IdP's configuration from the admin API's JSON: the preset's fields under the given
/// ones, then checked. The secrets are taken out of `input` first (see [`split_secrets`]).
pub fn parse_config(input: Map<String, Value>) -> Result<IdpConfig, Error> {
    let bad = |m: String| Error::InvalidIdpConfig(m);
    let mut fields = Map::new();
    if let Some(preset) = input.get("preset") {
        let preset: Preset = serde_json::from_value(preset.clone())
            .map_err(|_| bad("`preset` is one of google, microsoft, apple, github".into()))?;
        if let Value::Object(m) = preset_fields(preset) {
            fields = m;
        }
    }
    for (k, v) in input {
        fields.insert(k, v);
    }
    let config: IdpConfig =
        serde_json::from_value(Value::Object(fields)).map_err(|e| bad(e.to_string()))?;
    config.check()?;
    Ok(config)
}

/// Takes `client_secret` and `private_key` out of an admin request's JSON.
pub fn split_secrets(input: &mut Map<String, Value>) -> Result<Option<IdpSecrets>, Error> {
    let mut take = |k: &str| -> Result<Option<String>, Error> {
        match input.remove(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 16_384 => Ok(Some(s)),
            Some(_) => Err(Error::InvalidIdpConfig(format!(
                "`{k}` is a non-empty string"
            ))),
        }
    };
    let client_secret = take("client_secret")?;
    let private_key = take("private_key")?;
    if client_secret.is_none() && private_key.is_none() {
        return Ok(None);
    }
    Ok(Some(IdpSecrets {
        client_secret,
        private_key,
    }))
}

/// The DER inside a `-----BEGIN PRIVATE KEY-----` PEM block (PKCS#8, RFC 5958).
pub fn pkcs8_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN PRIVATE KEY-----")?
        .strip_suffix("-----END PRIVATE KEY-----")?;
    let b64: String = body.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// An http(s) URL: https, or http to a loopback host (the tests' IdPs).
pub fn upstream_url_ok(raw: &str) -> bool {
    let Ok(u) = url::Url::parse(raw) else {
        return false;
    };
    match u.scheme() {
        "https" => u.host().is_some(),
        "http" => {
            matches!(
                u.host(),
                Some(url::Host::Ipv4(ip)) if ip.is_loopback()
            ) || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
                || u.host_str() == Some("localhost")
        }
        _ => false,
    }
}

impl IdpConfig {
    fn check(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::InvalidIdpConfig(m.into()));
        if self.kind == IdpKind::Saml {
            return self.check_saml();
        }
        if self.client_id.is_empty() || self.client_id.len() > 512 {
            return bad("`client_id` is required (at most 512 characters)");
        }
        let name = self.display_name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return bad("`display_name` is 1 to 64 characters");
        }
        for url in [
            &self.discovery_url,
            &self.authorize_url,
            &self.token_url,
            &self.userinfo_url,
            &self.emails_url,
        ]
        .into_iter()
        .flatten()
        {
            if !upstream_url_ok(url) {
                return bad("IdP URLs are https (or http to a loopback address)");
            }
        }
        match self.kind {
            IdpKind::Oidc if self.discovery_url.is_none() => {
                return bad("an `oidc` IdP needs `discovery_url`");
            }
            IdpKind::Oauth2
                if self.authorize_url.is_none()
                    || self.token_url.is_none()
                    || self.userinfo_url.is_none() =>
            {
                return bad(
                    "an `oauth2` IdP needs `authorize_url`, `token_url` and `userinfo_url`",
                );
            }
            _ => {}
        }
        if self.kind == IdpKind::Oidc && !self.scopes.iter().any(|s| s == "openid") {
            return bad("an `oidc` IdP's `scopes` include `openid`");
        }
        if self.scopes.len() > 32
            || self
                .scopes
                .iter()
                .any(|s| s.is_empty() || s.len() > 128 || !s.bytes().all(|b| b.is_ascii_graphic()))
        {
            return bad("`scopes` are at most 32 words of printable ASCII");
        }
        if matches!(
            self.client_auth,
            ClientAuth::PrivateKeyJwt | ClientAuth::AppleSecretJwt
        ) && self.key_id.is_none()
        {
            return bad("a signed client assertion needs `key_id`");
        }
        if self.client_auth == ClientAuth::AppleSecretJwt && self.team_id.is_none() {
            return bad("Apple's client secret needs `team_id`");
        }
        if let Some(m) = &self.response_mode
            && m != "form_post"
            && m != "query"
        {
            return bad("`response_mode` is `query` or `form_post`");
        }
        if let Some(a) = self
            .id_token_algs
            .iter()
            .find(|a| !ID_TOKEN_ALGS.contains(&a.as_str()))
        {
            return Err(Error::InvalidIdpConfig(format!(
                "`{a}` is not an ID token algorithm Gatehouse accepts (`none` and HMAC never are)"
            )));
        }
        self.check_mapping()
    }

    /// The mapping writes account attributes: only names an account may hold.
    fn check_mapping(&self) -> Result<(), Error> {
        let probe: Map<String, Value> = self
            .attribute_mapping
            .keys()
            .map(|k| (k.clone(), Value::String(String::new())))
            .collect();
        crate::service::validate_attributes(Map::new(), probe)
            .map(|_| ())
            .map_err(|e| Error::InvalidIdpConfig(format!("attribute_mapping: {e}")))
    }

    fn check_saml(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::InvalidIdpConfig(m.into()));
        let name = self.display_name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return bad("`display_name` is 1 to 64 characters");
        }
        match (&self.metadata_xml, &self.metadata_url) {
            (Some(xml), None) if !xml.is_empty() && xml.len() <= 256 * 1024 => {}
            (None, Some(url)) if upstream_url_ok(url) => {}
            _ => {
                return bad(
                    "a `saml` IdP needs `metadata_xml` (at most 256 KiB) or an https `metadata_url`, one of them",
                );
            }
        }
        if self
            .name_id_format
            .as_deref()
            .is_some_and(|f| !f.starts_with("urn:oasis:names:tc:SAML:") || f.len() > 128)
        {
            return bad("`name_id_format` is a SAML NameID format URN");
        }
        self.check_mapping()
    }

    /// Whether what is sealed lets this IdP be used.
    pub fn check_secrets(&self, secrets: &IdpSecrets) -> Result<(), Error> {
        if self.kind == IdpKind::Saml {
            // The SP signs nothing: its AuthnRequests go unsigned over the redirect binding.
            return Ok(());
        }
        let needs_key = matches!(
            self.client_auth,
            ClientAuth::PrivateKeyJwt | ClientAuth::AppleSecretJwt
        );
        if needs_key {
            use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
            let usable = secrets
                .private_key
                .as_deref()
                .and_then(pkcs8_der)
                .is_some_and(|der| {
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).is_ok()
                });
            if !usable {
                return Err(Error::InvalidIdpConfig(
                    "this client authentication needs `private_key`: a P-256 key, PKCS#8 PEM"
                        .into(),
                ));
            }
        }
        if !needs_key && secrets.client_secret.is_none() {
            return Err(Error::InvalidIdpConfig(
                "`client_secret` is required".into(),
            ));
        }
        Ok(())
    }

    /// The tenant-templated issuer (`{tenantid}`), filled with the token's `tid`.
    pub fn expected_issuer(template: &str, tid: Option<&str>) -> Option<String> {
        if !template.contains("{tenantid}") {
            return Some(template.to_string());
        }
        let tid = tid?;
        // A tenant id is a GUID: nothing that could change the issuer's shape.
        let guid = tid.len() == 36 && tid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        guid.then(|| template.replace("{tenantid}", tid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<IdpConfig, Error> {
        match v {
            Value::Object(m) => parse_config(m),
            _ => unreachable!(),
        }
    }

    #[test]
    fn presets_fill_and_fields_override() {
        let c = parse(json!({"preset": "google", "client_id": "abc",
            "discovery_url": "http://127.0.0.1:9/.well-known/openid-configuration"}))
        .expect("google");
        assert_eq!(c.kind, IdpKind::Oidc);
        assert_eq!(c.display_name, "Google");
        assert!(c.trust_email);
        assert!(
            c.discovery_url
                .as_deref()
                .is_some_and(|u| u.starts_with("http://127.0.0.1"))
        );
        let g = parse(json!({"preset": "github", "client_id": "x"})).expect("github");
        assert_eq!(g.kind, IdpKind::Oauth2);
        assert_eq!(g.subject_field, "id");
        let m = parse(json!({"preset": "microsoft", "client_id": "x", "trust_email": true}));
        assert!(
            m.is_ok_and(|m| m.trust_email),
            "an operator may still decide"
        );
    }

    #[test]
    fn bad_configurations_are_refused() {
        for v in [
            json!({"kind": "oidc", "client_id": "x", "display_name": "X"}),
            json!({"kind": "oidc", "client_id": "x", "display_name": "X",
                   "discovery_url": "http://idp.example/.well-known/openid-configuration", "scopes": ["openid"]}),
            json!({"kind": "oidc", "client_id": "x", "display_name": "X",
                   "discovery_url": "https://idp.example/d", "scopes": ["email"]}),
            json!({"kind": "oidc", "client_id": "x", "display_name": "X",
                   "discovery_url": "https://idp.example/d", "scopes": ["openid"], "id_token_algs": ["HS256"]}),
            json!({"kind": "oidc", "client_id": "x", "display_name": "X",
                   "discovery_url": "https://idp.example/d", "scopes": ["openid"], "attribute_mapping": {"sub": "sub"}}),
            json!({"kind": "saml", "display_name": "X"}),
            json!({"kind": "saml", "display_name": "X", "metadata_url": "http://idp.example/m"}),
            json!({"preset": "apple", "client_id": "x"}),
            json!({"preset": "nope", "client_id": "x"}),
            json!({"preset": "google", "client_id": "x", "surprise": 1}),
        ] {
            assert!(
                matches!(parse(v.clone()), Err(Error::InvalidIdpConfig(_))),
                "{v}"
            );
        }
    }

    #[test]
    fn names_and_tenant_issuers() {
        assert!(valid_name("google"));
        assert!(valid_name("corp-sso2"));
        assert!(!valid_name("Google"));
        assert!(!valid_name("2fa"));
        assert!(!valid_name("a/b"));
        let t = "https://login.microsoftonline.com/{tenantid}/v2.0";
        let tid = "9188040d-6c67-4c5b-b112-36a304b66dad";
        assert_eq!(
            IdpConfig::expected_issuer(t, Some(tid)).as_deref(),
            Some("https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0")
        );
        assert_eq!(IdpConfig::expected_issuer(t, None), None);
        assert_eq!(IdpConfig::expected_issuer(t, Some("evil.example/x")), None);
        assert_eq!(
            IdpConfig::expected_issuer("https://a.example", None).as_deref(),
            Some("https://a.example")
        );
    }

    #[test]
    fn secrets_come_out_of_the_request() {
        let mut m = json!({"client_id": "x", "client_secret": "s3cret"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let s = split_secrets(&mut m).expect("split").expect("some");
        assert_eq!(s.client_secret.as_deref(), Some("s3cret"));
        assert!(!m.contains_key("client_secret"));
        assert!(!format!("{s:?}").contains("s3cret"));
    }
}
