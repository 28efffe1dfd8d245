//! Hooks (DESIGN, Hooks: Cognito's triggers): an HTTPS endpoint a pool calls at a trigger
//! point, signed as Standard Webhooks (<https://www.standardwebhooks.com/>) with the hook's
//! secret. This module holds what an operator configures and how it is checked; the
//! gateway calls the endpoints.
//!
//! A pool has at most one hook per trigger point (as Cognito has one Lambda per trigger),
//! narrowed to some clients or sign-in methods when the operator says so.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Error;

/// A hook's timeout when the operator gives none, and the most it may be (DESIGN: 2 s).
pub const TIMEOUT_DEFAULT_MS: u64 = 2_000;
pub const TIMEOUT_MAX_MS: u64 = 10_000;
const TIMEOUT_MIN_MS: u64 = 100;
/// At most this many client ids in a hook's filter.
const CLIENTS_MAX: usize = 100;
/// How long the previous secret keeps signing after a rotation when the operator gives no
/// overlap, and the most it may be.
pub const OVERLAP_DEFAULT_SECONDS: i64 = 24 * 3600;
pub const OVERLAP_MAX_SECONDS: i64 = 7 * 24 * 3600;
/// A secret's random part, in bytes (Standard Webhooks: between 24 and 64).
const SECRET_BYTES: usize = 32;

/// Where a pool calls its hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Before an account is created (email sign-up, a wallet's or an identity's first
    /// sign-in): allow, deny with a message, or confirm at once.
    PreSignUp,
    /// After an email was confirmed (a notification, through the outbox).
    PostConfirmation,
    /// Before a credential is checked: allow, or deny as a wrong password would.
    PreAuthentication,
    /// After a sign-in completed (a notification, through the outbox).
    PostAuthentication,
    /// Before tokens are signed: claims added or overridden, groups added or removed.
    PreToken,
    /// The words of each mail the pool sends.
    CustomMessage,
    /// An email unknown here signing in or recovering: looked up in the old system.
    UserMigration,
}

impl Trigger {
    pub const ALL: [Trigger; 7] = [
        Trigger::PreSignUp,
        Trigger::PostConfirmation,
        Trigger::PreAuthentication,
        Trigger::PostAuthentication,
        Trigger::PreToken,
        Trigger::CustomMessage,
        Trigger::UserMigration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::PreSignUp => "pre_sign_up",
            Trigger::PostConfirmation => "post_confirmation",
            Trigger::PreAuthentication => "pre_authentication",
            Trigger::PostAuthentication => "post_authentication",
            Trigger::PreToken => "pre_token",
            Trigger::CustomMessage => "custom_message",
            Trigger::UserMigration => "user_migration",
        }
    }

    /// A notification: delivered through the outbox with retries, never awaited by the
    /// request that caused it.
    pub fn is_notification(self) -> bool {
        matches!(
            self,
            Trigger::PostConfirmation | Trigger::PostAuthentication
        )
    }

    /// DESIGN: `pre_*`, `pre_token` and `user_migration` fail closed; a custom message that
    /// cannot be had falls back to the pool's own words.
    pub fn default_policy(self) -> FailurePolicy {
        match self {
            Trigger::CustomMessage => FailurePolicy::FailOpen,
            _ => FailurePolicy::FailClosed,
        }
    }

    /// Whether the event has a sign-in method and a client a filter can name.
    fn filtered(self) -> bool {
        !matches!(self, Trigger::CustomMessage)
    }
}

/// What a synchronous hook that times out, errors or answers nonsense means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// The request fails (`hook_failed`); a custom message waits and is tried again.
    FailClosed,
    /// The request goes on as if no hook were configured (audited).
    FailOpen,
}

/// How the account in an event signed in (or signs up).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Password,
    Siwe,
    Federated,
    Passkey,
    /// A recovery code mailed to the account.
    Recovery,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Password => "password",
            Method::Siwe => "siwe",
            Method::Federated => "federated",
            Method::Passkey => "passkey",
            Method::Recovery => "recovery",
        }
    }

    /// The first factor of a session, from its `amr` (RFC 8176 values and ours).
    pub fn of_amr(amr: &[String]) -> Option<Method> {
        amr.iter().find_map(|m| match m.as_str() {
            "pwd" => Some(Method::Password),
            "siwe" => Some(Method::Siwe),
            "fed" => Some(Method::Federated),
            "hwk" | "swk" => Some(Method::Passkey),
            "email" => Some(Method::Recovery),
            _ => None,
        })
    }
}

/// A hook as the operator configures it (and as the admin API shows it, without secrets).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HookConfig {
    pub trigger: Trigger,
    /// `https://…`, or `http://` to a loopback address (for tests).
    pub url: String,
    /// Milliseconds before a call is given up (default 2000, at most 10000).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Defaults by trigger: `fail_closed`, except `custom_message` (`fail_open`). Notifications
    /// (`post_*`) are retried through the outbox and take no policy.
    #[serde(default)]
    pub failure_policy: Option<FailurePolicy>,
    /// Client ids the hook applies to (`direct` names the `/v1` API); empty: every client.
    #[serde(default)]
    pub clients: Vec<String>,
    /// Sign-in methods the hook applies to; empty: every method.
    #[serde(default)]
    pub methods: Vec<Method>,
    /// A disabled hook is kept but never called.
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn default_timeout() -> u64 {
    TIMEOUT_DEFAULT_MS
}

fn enabled() -> bool {
    true
}

impl HookConfig {
    /// The policy in force: the configured one or the trigger's default.
    pub fn policy(&self) -> FailurePolicy {
        self.failure_policy
            .unwrap_or_else(|| self.trigger.default_policy())
    }

    /// Whether an event of `client` (None: no client, as for a mail) signed in by `method`
    /// is one this hook is called for.
    pub fn applies(&self, client: Option<&str>, method: Option<Method>) -> bool {
        let client_ok =
            self.clients.is_empty() || client.is_some_and(|c| self.clients.iter().any(|x| x == c));
        let method_ok =
            self.methods.is_empty() || method.is_some_and(|m| self.methods.contains(&m));
        self.enabled && client_ok && method_ok
    }

    fn check(&mut self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::InvalidHookConfig(m.into()));
        if !crate::idp::upstream_url_ok(&self.url) {
            return bad("`url` is https://, or http:// to a loopback address");
        }
        let url =
            url::Url::parse(&self.url).map_err(|_| Error::InvalidHookConfig("`url`".into()))?;
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return bad(
                "`url` carries no credentials and no fragment: the signature authenticates the call",
            );
        }
        if !(TIMEOUT_MIN_MS..=TIMEOUT_MAX_MS).contains(&self.timeout_ms) {
            return bad("`timeout_ms` is 100 to 10000");
        }
        if self.trigger.is_notification() && self.failure_policy == Some(FailurePolicy::FailClosed)
        {
            return bad(
                "a notification (`post_*`) never blocks a request: it is retried through the outbox",
            );
        }
        let filters = !self.clients.is_empty() || !self.methods.is_empty();
        if !self.trigger.filtered() && filters {
            return bad(
                "`custom_message` applies to every mail: it takes no `clients` or `methods`",
            );
        }
        if self.trigger == Trigger::UserMigration
            && self
                .methods
                .iter()
                .any(|m| !matches!(m, Method::Password | Method::Recovery))
        {
            return bad("`user_migration` runs for `password` sign-ins and `recovery` only");
        }
        if self.clients.len() > CLIENTS_MAX
            || self
                .clients
                .iter()
                .any(|c| c.is_empty() || c.len() > 128 || c.chars().any(char::is_control))
        {
            return bad("`clients` holds at most 100 client ids of 1 to 128 characters");
        }
        self.clients.sort();
        self.clients.dedup();
        self.methods.sort_by_key(|m| m.as_str());
        self.methods.dedup();
        // Stored explicit, so a later change of the defaults does not change a hook.
        if !self.trigger.is_notification() {
            self.failure_policy = Some(self.policy());
        }
        Ok(())
    }
}

/// A hook's configuration from the admin API's JSON (without `name` and `secret`), checked.
pub fn parse_config(input: Map<String, Value>) -> Result<HookConfig, Error> {
    let mut config: HookConfig = serde_json::from_value(Value::Object(input))
        .map_err(|e| Error::InvalidHookConfig(e.to_string()))?;
    config.check()?;
    Ok(config)
}

/// A hook's signing secrets, sealed with the master key. During a rotation the previous
/// secret signs too (a second `v1,` signature), until `previous_until`.
#[derive(Clone, Serialize, Deserialize)]
pub struct HookSecrets {
    pub current: String,
    #[serde(default)]
    pub previous: Option<String>,
    #[serde(default)]
    pub previous_until: Option<i64>,
}

impl std::fmt::Debug for HookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookSecrets")
            .field("previous_until", &self.previous_until)
            .finish_non_exhaustive()
    }
}

impl HookSecrets {
    pub fn new() -> Self {
        HookSecrets {
            current: new_secret(),
            previous: None,
            previous_until: None,
        }
    }

    /// A new current secret; the old one keeps signing for `overlap` seconds.
    pub fn rotated(&self, overlap: i64, now: i64) -> Self {
        HookSecrets {
            current: new_secret(),
            previous: (overlap > 0).then(|| self.current.clone()),
            previous_until: (overlap > 0).then_some(now + overlap),
        }
    }

    /// The secrets that sign a call made at `now`: the current one first.
    pub fn signing(&self, now: i64) -> Vec<&str> {
        let mut out = vec![self.current.as_str()];
        if let (Some(p), Some(until)) = (&self.previous, self.previous_until)
            && now < until
        {
            out.push(p);
        }
        out
    }
}

impl Default for HookSecrets {
    fn default() -> Self {
        Self::new()
    }
}

/// A Standard Webhooks secret: `whsec_` and the base64 of random bytes.
fn new_secret() -> String {
    use base64::Engine;
    let bytes = crate::secret::random_bytes::<SECRET_BYTES>();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The key bytes of a `whsec_` secret.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<HookConfig, Error> {
        match v {
            Value::Object(m) => parse_config(m),
            _ => unreachable!(),
        }
    }

    #[test]
    fn defaults_fill_and_bad_settings_are_refused() {
        let h =
            parse(json!({"trigger": "pre_token", "url": "https://hooks.example.com/t"})).unwrap();
        assert_eq!(h.timeout_ms, 2000);
        assert_eq!(h.failure_policy, Some(FailurePolicy::FailClosed));
        let m = parse(json!({"trigger": "custom_message", "url": "http://127.0.0.1:9/m"})).unwrap();
        assert_eq!(m.policy(), FailurePolicy::FailOpen);
        let p =
            parse(json!({"trigger": "post_authentication", "url": "https://h.example/p"})).unwrap();
        assert_eq!(p.failure_policy, None);
        for bad in [
            json!({"trigger": "pre_token", "url": "http://hooks.example.com/t"}),
            json!({"trigger": "pre_token", "url": "https://u:p@hooks.example.com/t"}),
            json!({"trigger": "pre_token", "url": "https://h.example/t", "timeout_ms": 10001}),
            json!({"trigger": "pre_token", "url": "https://h.example/t", "timeout_ms": 0}),
            json!({"trigger": "post_confirmation", "url": "https://h.example/t", "failure_policy": "fail_closed"}),
            json!({"trigger": "custom_message", "url": "https://h.example/t", "clients": ["a"]}),
            json!({"trigger": "user_migration", "url": "https://h.example/t", "methods": ["siwe"]}),
            json!({"trigger": "pre_token", "url": "https://h.example/t", "clients": [""]}),
            json!({"trigger": "pre_token", "url": "https://h.example/t", "extra": 1}),
            json!({"trigger": "nope", "url": "https://h.example/t"}),
        ] {
            assert!(
                matches!(parse(bad.clone()), Err(Error::InvalidHookConfig(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn filters_name_clients_and_methods() {
        let h = parse(json!({"trigger": "pre_token", "url": "https://h.example/t",
            "clients": ["web", "web"], "methods": ["siwe"]}))
        .unwrap();
        assert_eq!(h.clients, vec!["web".to_string()]);
        assert!(h.applies(Some("web"), Some(Method::Siwe)));
        assert!(!h.applies(Some("web"), Some(Method::Password)));
        assert!(!h.applies(Some("cli"), Some(Method::Siwe)));
        assert!(!h.applies(None, Some(Method::Siwe)));
        let all = parse(json!({"trigger": "pre_token", "url": "https://h.example/t"})).unwrap();
        assert!(all.applies(None, None));
        let off =
            parse(json!({"trigger": "pre_token", "url": "https://h.example/t", "enabled": false}))
                .unwrap();
        assert!(!off.applies(None, None));
    }

    #[test]
    fn a_rotation_signs_with_both_secrets_until_the_overlap_ends() {
        let s = HookSecrets::new();
        assert!(s.current.starts_with("whsec_"));
        assert_eq!(secret_key(&s.current).unwrap().len(), SECRET_BYTES);
        let r = s.rotated(600, 1000);
        assert_ne!(r.current, s.current);
        assert_eq!(
            r.signing(1000),
            vec![r.current.as_str(), s.current.as_str()]
        );
        assert_eq!(r.signing(1600), vec![r.current.as_str()]);
        assert_eq!(s.rotated(0, 1000).signing(1000).len(), 1);
        assert!(!format!("{r:?}").contains("whsec_"));
    }
}
