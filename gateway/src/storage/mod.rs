//! Storage credentials, the identity-pool side (DESIGN, "Storage credentials"): a signed-in
//! account asks for a role; if the role's conditions hold, it gets a grant confined to the
//! role's prefix for that account: presigned URLs for named objects and a POST policy for
//! browser uploads, expiring within the role's TTL (at most an hour). The gateway's own
//! key pair signs and is never returned.

pub mod sigv4;

use accounts::storage_role::{StorageAction, StorageRole};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use sigv4::{S3Settings, Stamp};

/// At most this many objects per grant.
pub const MAX_OBJECTS: usize = 20;
/// S3 keys are at most 1024 bytes.
const MAX_KEY_BYTES: usize = 1024;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub role: String,
    #[serde(default)]
    pub objects: Vec<ObjectRequest>,
    /// Content type of browser uploads (the POST policy), required when the role limits
    /// content types.
    #[serde(default)]
    pub content_type: Option<String>,
    /// The one key (relative to the prefix) the POST policy allows; without it, any key
    /// under the prefix (stores that take keys literally: AWS S3, MinIO, R2).
    #[serde(default)]
    pub upload_key: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectRequest {
    /// Relative to the prefix; empty for `list`.
    #[serde(default)]
    pub key: String,
    pub action: StorageAction,
    /// For `put` when the role limits sizes: the exact size, signed as `content-length`.
    #[serde(default)]
    pub size: Option<u64>,
    /// For `put` when the role limits types: signed as `content-type`.
    #[serde(default)]
    pub content_type: Option<String>,
}

/// A grant, as `POST /v1/storage/credentials` answers it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Grant {
    pub role: String,
    /// The store's endpoint, without a trailing slash.
    pub endpoint: String,
    pub bucket: String,
    /// The caller's own prefix; every URL and the POST policy stay inside it.
    pub prefix: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub expires_at: String,
    pub urls: Vec<GrantUrl>,
    /// Only when the role allows `put`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post: Option<PostPolicy>,
}

/// A browser upload: the form fields to POST to `url` with the file last.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PostPolicy {
    pub url: String,
    pub fields: BTreeMap<String, String>,
    /// The role's limit, `null` without one.
    pub max_size: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GrantUrl {
    pub key: String,
    pub action: StorageAction,
    pub method: &'static str,
    pub url: String,
    /// Headers the request must carry exactly as given (they are signed).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// Why a grant is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A role condition does not hold; says which.
    Conditions(String),
    /// The role does not allow this action.
    Action(StorageAction),
    /// The key is not a plain key inside the prefix; says why.
    Key(String),
    /// A field the role needs is missing or outside its limits.
    Limits(String),
}

/// What the caller is, for the role's conditions.
pub struct Caller<'a> {
    pub email_verified: bool,
    pub amr: &'a [String],
    pub auth_time: i64,
    pub groups: Vec<String>,
    pub now: i64,
}

/// Checks the role's conditions; the first that fails is named.
pub fn check_conditions(role: &StorageRole, caller: &Caller<'_>) -> Result<(), Refusal> {
    let c = &role.conditions;
    if c.email_verified && !caller.email_verified {
        return Err(Refusal::Conditions(format!(
            "the {} role needs a verified email",
            role.name
        )));
    }
    if !c.amr_any.is_empty() && !caller.amr.iter().any(|m| c.amr_any.contains(m)) {
        return Err(Refusal::Conditions(format!(
            "the {} role needs a sign-in by {}",
            role.name,
            c.amr_any.join(" or ")
        )));
    }
    if let Some(minutes) = c.auth_within_minutes
        && caller.now - caller.auth_time > minutes * 60
    {
        return Err(Refusal::Conditions(format!(
            "the {} role needs a sign-in within the last {minutes} minutes: sign in again",
            role.name
        )));
    }
    if let Some(group) = &c.group
        && !caller.groups.contains(group)
    {
        return Err(Refusal::Conditions(format!(
            "the {} role needs membership of the group {group}",
            role.name
        )));
    }
    Ok(())
}

/// A key relative to the prefix: plain segments of S3's safe characters (letters, digits and
/// `!-_.*'()`), no empty, `.` or `..` segment, no leading or trailing `/`, so the full key
/// can only name an object inside the prefix, on every S3-compatible store.
pub fn check_key(prefix: &str, key: &str) -> Result<(), Refusal> {
    let bad = |why: &str| Err(Refusal::Key(format!("object key {key:?}: {why}")));
    if key.is_empty() {
        return bad("empty");
    }
    if prefix.len() + key.len() > MAX_KEY_BYTES {
        return bad("too long");
    }
    if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "!-_.*'()/".contains(*c)))
    {
        return if c.is_control() {
            bad("control characters are not allowed")
        } else {
            bad("only letters, digits, '/' and !-_.*'() are allowed")
        };
    }
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return bad("empty, '.' and '..' segments (and leading or trailing '/') are not allowed");
    }
    Ok(())
}

/// The signed headers of a `put`: `content-length` when the role limits sizes,
/// `content-type` when it limits types.
pub fn put_headers(
    role: &StorageRole,
    o: &ObjectRequest,
) -> Result<Vec<(&'static str, String)>, Refusal> {
    let mut headers = Vec::new();
    if let Some(max) = role.max_size {
        match o.size {
            Some(size) if size <= max => headers.push(("content-length", size.to_string())),
            Some(_) => {
                return Err(Refusal::Limits(format!(
                    "{}: larger than the role's limit of {max} bytes",
                    o.key
                )));
            }
            None => {
                return Err(Refusal::Limits(format!(
                    "{}: give \"size\" (the role allows at most {max} bytes)",
                    o.key
                )));
            }
        }
    }
    if !role.content_types.is_empty() {
        headers.push((
            "content-type",
            allowed_type(role, o.content_type.as_deref())?,
        ));
    } else if let Some(t) = &o.content_type {
        headers.push(("content-type", check_media_type(t)?));
    }
    Ok(headers)
}

/// A media type of printable ASCII, `type/subtype[;params]`, at most 255 bytes: nothing that
/// could break a signed header.
pub fn check_media_type(t: &str) -> Result<String, Refusal> {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&c))
    };
    let ok = t.len() <= 255
        && t.bytes().all(|b| (0x20..0x7f).contains(&b))
        && t.split(';')
            .next()
            .and_then(|m| m.trim().split_once('/'))
            .is_some_and(|(a, b)| token(a) && token(b));
    if ok {
        Ok(t.trim().to_string())
    } else {
        Err(Refusal::Limits(format!("{t:?} is not a media type")))
    }
}

/// The content type, if the role allows it.
pub fn allowed_type(role: &StorageRole, content_type: Option<&str>) -> Result<String, Refusal> {
    match content_type {
        Some(t) if role.content_types.iter().any(|a| a.eq_ignore_ascii_case(t)) => {
            Ok(t.to_ascii_lowercase())
        }
        _ => Err(Refusal::Limits(format!(
            "give \"content_type\": one of {}",
            role.content_types.join(", ")
        ))),
    }
}

/// The HTTP method of an action.
pub fn method(action: StorageAction) -> &'static str {
    match action {
        StorageAction::Get | StorageAction::List => "GET",
        StorageAction::Put => "PUT",
        StorageAction::Delete => "DELETE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_inside_the_prefix() {
        let p = "recovery/abc/";
        for ok in ["kit.bin", "a/b/c.pdf", "it's(1)!.txt", "x*y-z_"] {
            assert_eq!(check_key(p, ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../other/kit.bin",
            "a/../../b",
            "a/./b",
            "a//b",
            "a/",
            "a%2F..%2Fb",
            "a\\b",
            "a\nb",
            "a\u{0}b",
            "caf\u{e9}",
            "a b",
            "a?b",
            "a#b",
        ] {
            assert!(check_key(p, bad).is_err(), "{bad:?}");
        }
        assert!(check_key(p, &"a".repeat(1024)).is_err());
    }

    #[test]
    fn media_types() {
        for ok in [
            "image/png",
            "application/octet-stream",
            "text/plain; charset=utf-8",
        ] {
            assert!(check_media_type(ok).is_ok(), "{ok}");
        }
        for bad in [
            "png",
            "text/plain\r\nx-amz-acl: public-read",
            "a/",
            "/b",
            "caf\u{e9}/x",
        ] {
            assert!(check_media_type(bad).is_err(), "{bad:?}");
        }
    }
}
