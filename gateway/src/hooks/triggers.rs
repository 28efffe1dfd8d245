//! What each trigger accepts as an answer (documented as JSON Schemas in `docs/hooks/`),
//! read strictly: a field the trigger does not know, or a value it does not allow, is a
//! failed call that follows the hook's policy.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::Failure;

/// The placeholder a custom message writes where the code goes (as Cognito's
/// `{####}`): the code itself is never sent to the hook.
pub const CODE_PLACEHOLDER: &str = "{####}";
/// The placeholder of a mail's link (an email change's undo link), never sent either.
pub const LINK_PLACEHOLDER: &str = "{link}";
/// A message a hook gives a person (a denial) is clipped to this many characters.
const MESSAGE_MAX: usize = 256;
/// The claims a `pre_token` answer may add to one token, serialized, at most.
const CLAIMS_MAX: usize = 8 * 1024;
/// Groups a `pre_token` answer may add at most.
const GROUPS_MAX: usize = 100;

fn read<T: for<'de> Deserialize<'de>>(v: Value) -> Result<T, Failure> {
    // An empty answer means "go on" for every trigger that allows one.
    let v = if v.is_null() {
        Value::Object(Map::new())
    } else {
        v
    };
    serde_json::from_value(v).map_err(|e| Failure::Refused(e.to_string()))
}

/// A message for a person: printable, trimmed, clipped.
fn message(m: Option<String>) -> Option<String> {
    let m: String = m?
        .chars()
        .filter(|c| !c.is_control())
        .take(MESSAGE_MAX)
        .collect();
    let m = m.trim().to_string();
    (!m.is_empty()).then_some(m)
}

/// `pre_sign_up`'s answer.
#[derive(Debug, PartialEq, Eq)]
pub enum SignUp {
    Allow,
    /// The account is created confirmed: no code is mailed, the email counts as verified.
    AutoConfirm,
    Deny(Option<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionAnswer {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

pub fn sign_up(v: Value) -> Result<SignUp, Failure> {
    let a: ActionAnswer = read(v)?;
    match a.action.as_deref() {
        None | Some("allow") => Ok(SignUp::Allow),
        Some("auto_confirm") => Ok(SignUp::AutoConfirm),
        Some("deny") => Ok(SignUp::Deny(message(a.message))),
        Some(other) => Err(Failure::Refused(format!("unknown action `{other}`"))),
    }
}

/// `pre_authentication`'s answer: `Ok(None)` allows, `Ok(Some(message))` denies.
pub fn authentication(v: Value) -> Result<Option<Option<String>>, Failure> {
    let a: ActionAnswer = read(v)?;
    match a.action.as_deref() {
        None | Some("allow") => Ok(None),
        Some("deny") => Ok(Some(message(a.message))),
        Some(other) => Err(Failure::Refused(format!("unknown action `{other}`"))),
    }
}

/// `pre_token`'s answer: claims added to (or overriding) each token, groups changed for
/// this issue only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenCustom {
    #[serde(default)]
    pub access_token: TokenClaims,
    #[serde(default)]
    pub id_token: TokenClaims,
    #[serde(default)]
    pub groups: GroupChange,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenClaims {
    #[serde(default)]
    pub claims: Map<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupChange {
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// Claims no hook may add or override: DESIGN's list (`iss`, `sub`, `aud`, `exp`, `iat`,
/// `jti`, `amr`), and every other claim the gateway vouches for itself (how and when the
/// person signed in, the session, the client, the scope, the wallets and IdP, the email's
/// verification, the groups, which change through `groups`).
pub const PROTECTED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "amr",
    "acr",
    "auth_time",
    "nonce",
    "azp",
    "at_hash",
    "c_hash",
    "sid",
    "client_id",
    "scope",
    "typ",
    "cnf",
    "email",
    "email_verified",
    "wallet",
    "wallets",
    "idp",
    "groups",
];

pub fn token(v: Value) -> Result<TokenCustom, Failure> {
    let custom: TokenCustom = read(v)?;
    for claims in [&custom.access_token.claims, &custom.id_token.claims] {
        if let Some(k) = claims
            .keys()
            .find(|k| PROTECTED_CLAIMS.contains(&k.as_str()))
        {
            return Err(Failure::Forbidden(format!(
                "the claim `{k}` is the gateway's"
            )));
        }
        let size = serde_json::to_vec(claims)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > CLAIMS_MAX {
            return Err(Failure::Refused(
                "the claims of one token exceed 8 KiB".into(),
            ));
        }
    }
    let g = &custom.groups;
    if g.add.len() > GROUPS_MAX
        || g.add
            .iter()
            .chain(&g.remove)
            .any(|n| n.is_empty() || n.len() > 128 || n.chars().any(char::is_control))
    {
        return Err(Failure::Refused(
            "`groups` names at most 100 groups of 1 to 128 characters".into(),
        ));
    }
    Ok(custom)
}

/// `custom_message`'s answer: the mail's words. `Ok(None)` keeps the pool's own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub subject: String,
    pub text: String,
    #[serde(default)]
    pub html: Option<String>,
}

/// What a `custom_message` hook is told of a mail: its facts without the code or link,
/// and those secrets with the placeholders that stand for them.
pub fn mail_facts(mail: &accounts::mail::Mail) -> (Value, Vec<(&'static str, String)>) {
    let mut facts = match serde_json::to_value(mail) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    facts.remove("kind");
    let mut secrets = Vec::new();
    for (field, placeholder) in [("code", CODE_PLACEHOLDER), ("undo_url", LINK_PLACEHOLDER)] {
        if let Some(Value::String(v)) = facts.remove(field) {
            secrets.push((placeholder, v));
        }
    }
    (Value::Object(facts), secrets)
}

/// Reads a custom message for a mail whose secrets (a code, a link) go where their
/// placeholders are: each must appear in `text`, and in `html` when there is one.
pub fn message_for(v: Value, secrets: &[(&str, String)]) -> Result<Option<Message>, Failure> {
    if v.is_null() || v.as_object().is_some_and(Map::is_empty) {
        return Ok(None);
    }
    let mut m: Message = read(v)?;
    let subject = m.subject.trim();
    if subject.is_empty() || subject.chars().count() > 200 || subject.chars().any(char::is_control)
    {
        return Err(Failure::Refused(
            "`subject` is 1 to 200 characters on one line".into(),
        ));
    }
    m.subject = subject.to_string();
    if m.text.trim().is_empty()
        || m.text.len() > 32 * 1024
        || m.html.as_ref().is_some_and(|h| h.len() > 48 * 1024)
    {
        return Err(Failure::Refused(
            "`text` is required; text and html are bounded".into(),
        ));
    }
    for (placeholder, value) in secrets {
        if !m.text.contains(placeholder)
            || m.html.as_ref().is_some_and(|h| !h.contains(placeholder))
        {
            return Err(Failure::Refused(format!(
                "this mail carries a secret: `text` (and `html`) must hold {placeholder}"
            )));
        }
        m.text = m.text.replace(placeholder, value);
        m.html = m.html.map(|h| h.replace(placeholder, value));
        m.subject = m.subject.replace(placeholder, value);
    }
    Ok(Some(m))
}

/// `user_migration`'s answer: the account as the old system knows it, or nothing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MigrationAnswer {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    attributes: Map<String, Value>,
    #[serde(default)]
    email_verified: bool,
    #[serde(default)]
    groups: Vec<String>,
}

pub fn migration(v: Value) -> Result<Option<accounts::MigratedUser>, Failure> {
    let a: MigrationAnswer = read(v)?;
    match a.action.as_deref() {
        None | Some("unknown") => Ok(None),
        Some("migrate") => {
            if a.groups.len() > GROUPS_MAX {
                return Err(Failure::Refused("at most 100 groups".into()));
            }
            Ok(Some(accounts::MigratedUser {
                attributes: a.attributes,
                email_verified: a.email_verified,
                groups: a.groups,
            }))
        }
        Some(other) => Err(Failure::Refused(format!("unknown action `{other}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_read_strictly() {
        assert_eq!(sign_up(Value::Null).unwrap(), SignUp::Allow);
        assert_eq!(
            sign_up(json!({"action": "auto_confirm"})).unwrap(),
            SignUp::AutoConfirm
        );
        assert_eq!(
            sign_up(json!({"action": "deny", "message": " No\u{7} sign-ups today "})).unwrap(),
            SignUp::Deny(Some("No sign-ups today".into()))
        );
        assert!(sign_up(json!({"action": "maybe"})).is_err());
        assert!(sign_up(json!({"action": "allow", "extra": 1})).is_err());
        assert_eq!(authentication(json!({})).unwrap(), None);
        assert_eq!(
            authentication(json!({"action": "deny"})).unwrap(),
            Some(None)
        );
    }

    #[test]
    fn a_token_answer_never_touches_protected_claims() {
        let ok = token(
            json!({"access_token": {"claims": {"tenant": "acme"}}, "groups": {"add": ["beta"]}}),
        )
        .unwrap();
        assert_eq!(ok.access_token.claims["tenant"], "acme");
        for k in [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "jti",
            "amr",
            "email_verified",
            "wallets",
        ] {
            let bad = json!({"id_token": {"claims": {k: "x"}}});
            assert!(matches!(token(bad), Err(Failure::Forbidden(_))), "{k}");
        }
        let big = json!({"access_token": {"claims": {"blob": "x".repeat(9000)}}});
        assert!(matches!(token(big), Err(Failure::Refused(_))));
    }

    #[test]
    fn a_custom_message_must_place_the_code() {
        let code = [(CODE_PLACEHOLDER, "123456".to_string())];
        let m = message_for(
            json!({"subject": "Code {####}", "text": "Use {####}.", "html": "<b>{####}</b>"}),
            &code,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (m.subject.as_str(), m.text.as_str()),
            ("Code 123456", "Use 123456.")
        );
        assert_eq!(m.html.as_deref(), Some("<b>123456</b>"));
        assert!(message_for(json!({"subject": "Hi", "text": "no code"}), &code).is_err());
        assert!(
            message_for(
                json!({"subject": "Hi", "text": "{####}", "html": "none"}),
                &code
            )
            .is_err()
        );
        assert!(
            message_for(json!({"subject": "Hi", "text": "Notice"}), &[])
                .unwrap()
                .is_some()
        );
        assert!(message_for(json!({}), &[]).unwrap().is_none());
        assert!(message_for(json!({"subject": "a\nb", "text": "x"}), &[]).is_err());
        let (facts, secrets) = mail_facts(&accounts::mail::Mail::SignupCode { code: "42".into() });
        assert_eq!(facts, json!({}));
        assert_eq!(secrets, vec![(CODE_PLACEHOLDER, "42".to_string())]);
    }
}
