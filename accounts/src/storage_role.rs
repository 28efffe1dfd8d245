//! Storage roles: what a signed-in account may do in the pool's S3-compatible store, under
//! which conditions on its token and account. Part of a pool's stored config (DESIGN,
//! "Storage credentials"); the gateway turns a role into a short-lived grant.

use serde::{Deserialize, Serialize};

/// The longest grant: one hour, as Cognito identity pools' credentials.
pub const MAX_ROLE_TTL: i64 = 3600;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum StorageAction {
    Get,
    Put,
    List,
    Delete,
}

impl StorageAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Put => "put",
            Self::List => "list",
            Self::Delete => "delete",
        }
    }
}

/// Conditions on the caller; all that are set must hold.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct RoleConditions {
    /// The account has a verified email.
    pub email_verified: bool,
    /// The token's `amr` holds at least one of these (none: any).
    pub amr_any: Vec<String>,
    /// The sign-in (`auth_time`) is at most this many minutes old.
    pub auth_within_minutes: Option<i64>,
    /// The account is in this group (`groups` claim).
    pub group: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct StorageRole {
    pub name: String,
    #[serde(default)]
    pub conditions: RoleConditions,
    pub actions: Vec<StorageAction>,
    /// Key prefix with `{sub}` (required) and optionally `{pool}`; ends with `/`.
    pub prefix: String,
    /// Grant lifetime, seconds (at most [`MAX_ROLE_TTL`]).
    pub ttl_seconds: i64,
    /// Largest upload, bytes (none: the store's own limit).
    #[serde(default)]
    pub max_size: Option<u64>,
    /// Allowed upload content types (none: any).
    #[serde(default)]
    pub content_types: Vec<String>,
}

impl StorageRole {
    pub fn allows(&self, action: StorageAction) -> bool {
        self.actions.contains(&action)
    }

    /// The prefix for one account.
    pub fn prefix_for(&self, pool: &str, sub: &str) -> String {
        self.prefix.replace("{sub}", sub).replace("{pool}", pool)
    }

    /// Why the role is not usable, if it is not.
    pub fn problem(&self) -> Option<String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        let template = self.prefix.replace("{sub}", "x").replace("{pool}", "x");
        if !name_ok {
            Some("a storage role name is 1 to 64 of a-z, 0-9, '-' and '_'".into())
        } else if !self.prefix.contains("{sub}") || !self.prefix.ends_with('/') {
            Some(format!(
                "storage role {}: the prefix must contain {{sub}} and end with '/'",
                self.name
            ))
        } else if template.starts_with('/')
            || template.contains(['{', '}', '\\', '%'])
            || template
                .trim_end_matches('/')
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
            || template.chars().any(char::is_control)
        {
            Some(format!(
                "storage role {}: the prefix is not a plain key prefix",
                self.name
            ))
        } else if !(1..=MAX_ROLE_TTL).contains(&self.ttl_seconds) {
            Some(format!(
                "storage role {}: ttl_seconds must be 1 to {MAX_ROLE_TTL}",
                self.name
            ))
        } else if self.allows(StorageAction::Put) && self.max_size.is_none() {
            Some(format!(
                "storage role {}: a role that allows put needs max_size",
                self.name
            ))
        } else if self.actions.is_empty() {
            Some(format!("storage role {}: no actions", self.name))
        } else {
            None
        }
    }
}

/// The roles every pool has unless its config says otherwise.
pub fn default_roles() -> Vec<StorageRole> {
    vec![
        // An encrypted recovery kit: readable again after a recovery by email (a recovery
        // session is a fresh sign-in with a verified email).
        StorageRole {
            name: "recovery".into(),
            conditions: RoleConditions {
                email_verified: true,
                auth_within_minutes: Some(15),
                ..RoleConditions::default()
            },
            actions: vec![StorageAction::Get, StorageAction::Put],
            prefix: "recovery/{sub}/".into(),
            ttl_seconds: 900,
            max_size: Some(1024 * 1024),
            content_types: Vec::new(),
        },
        // KYC documents for a fiat on-ramp: write only.
        StorageRole {
            name: "fiat".into(),
            conditions: RoleConditions {
                email_verified: true,
                ..RoleConditions::default()
            },
            actions: vec![StorageAction::Put],
            prefix: "kyc/{sub}/".into(),
            ttl_seconds: 900,
            max_size: Some(10 * 1024 * 1024),
            content_types: vec![
                "image/jpeg".into(),
                "image/png".into(),
                "image/webp".into(),
                "image/heic".into(),
                "application/pdf".into(),
            ],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_templates_are_checked() {
        for r in default_roles() {
            assert_eq!(r.problem(), None, "{}", r.name);
        }
        let mut r = default_roles().remove(0);
        assert_eq!(r.prefix_for("main", "abc"), "recovery/abc/");
        for bad in [
            "recovery/",
            "/x/{sub}/",
            "../{sub}/",
            "a/{sub}",
            "a%2f/{sub}/",
            "{other}/{sub}/",
        ] {
            r.prefix = bad.into();
            assert!(r.problem().is_some(), "{bad}");
        }
        r.prefix = "{pool}/files/{sub}/".into();
        assert_eq!(r.problem(), None);
        r.ttl_seconds = 3601;
        assert!(r.problem().is_some());
    }
}
