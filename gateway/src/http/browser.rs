//! The browser side of the hosted pages: the single-sign-on session cookie and CSRF tokens.
//!
//! - The session cookie names a gateway session (a refresh-token family whose refresh token
//!   was thrown away) and carries a keyed MAC of its id, so it cannot be forged; it is live
//!   exactly while that session is, so logout, "sign out everywhere", a password change or a
//!   recovery end it at once on every instance. `HttpOnly`, `SameSite=Lax`, `Path=/`, and
//!   over https `Secure` with the `__Host-` prefix (RFC 6265bis §4.1.3.2).
//! - CSRF: a random cookie, and in each form a MAC of it (a signed double-submit token);
//!   a POST also must not come from another origin (`Origin`, `Sec-Fetch-Site`).

use accounts::SessionId;
use accounts::store::{PoolRecord, SessionRecord};
use axum::http::{HeaderMap, HeaderValue, header};

use crate::state::AppState;

const SESSION_PURPOSE: &str = "browser-session";
const CSRF_PURPOSE: &str = "csrf";

fn prefix(state: &AppState) -> &'static str {
    if state.config.is_https() {
        "__Host-"
    } else {
        ""
    }
}

fn session_cookie_name(state: &AppState, pool: &PoolRecord) -> String {
    format!("{}gh_session_{}", prefix(state), pool.name)
}

fn csrf_cookie_name(state: &AppState) -> String {
    format!("{}gh_csrf", prefix(state))
}

fn device_cookie_name(state: &AppState) -> String {
    format!("{}gh_device", prefix(state))
}

/// How long a browser keeps its device cookie: 400 days, the most browsers allow
/// (RFC 6265bis §4.1.2.2).
const DEVICE_MAX_AGE: u64 = 400 * 86_400;

/// The browser's device cookie (a random token the hosted pages set once, so a sign-in from
/// a browser the account never used can be told), if the request carries a well-formed one.
pub fn device(state: &AppState, headers: &HeaderMap) -> Option<String> {
    cookie(headers, &device_cookie_name(state)).filter(|v| {
        v.len() == 43
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

fn cookie_attrs(state: &AppState, same_site: &str) -> String {
    let secure = if state.config.is_https() {
        "; Secure"
    } else {
        ""
    };
    format!("Path=/; HttpOnly; SameSite={same_site}{secure}")
}

/// The value of cookie `name` in the request, if sent once.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = None;
    for h in headers.get_all(header::COOKIE) {
        for pair in h.to_str().ok()?.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=')
                && k == name
            {
                if found.is_some() {
                    return None;
                }
                found = Some(v.to_string());
            }
        }
    }
    found
}

fn equal(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

/// The live browser session of this pool the request carries, if any.
pub async fn session(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
) -> Result<Option<SessionRecord>, accounts::Error> {
    let Some(value) = cookie(headers, &session_cookie_name(state, pool)) else {
        return Ok(None);
    };
    let Some((id, mac)) = value.split_once('.') else {
        return Ok(None);
    };
    if !equal(mac, &state.users.mac(SESSION_PURPOSE, id)) {
        return Ok(None);
    }
    let Some(id) = SessionId::parse(id) else {
        return Ok(None);
    };
    let now = state.clock.now();
    Ok(state
        .users
        .live_session(id, now)
        .await?
        .filter(|s| s.pool_id == pool.id && s.client_id.is_none()))
}

/// `Set-Cookie` starting a browser session.
pub fn start_session(state: &AppState, pool: &PoolRecord, session: &SessionRecord) -> HeaderValue {
    let id = session.id.to_string();
    let max_age = (session.expires_at - state.clock.now()).max(0);
    let v = format!(
        "{}={id}.{}; Max-Age={max_age}; {}",
        session_cookie_name(state, pool),
        state.users.mac(SESSION_PURPOSE, &id),
        cookie_attrs(state, "Lax")
    );
    HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static(""))
}

/// `Set-Cookie` ending the browser session.
pub fn end_session(state: &AppState, pool: &PoolRecord) -> HeaderValue {
    let v = format!(
        "{}=; Max-Age=0; {}",
        session_cookie_name(state, pool),
        cookie_attrs(state, "Lax")
    );
    HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static(""))
}

/// The short-lived cookies of a federated sign-in: the browser binding of a sign-in at an
/// IdP, and the handle of an identity waiting to link once its account signs in.
#[derive(Clone, Copy)]
pub enum FederationCookie {
    Binding,
    LinkWait,
}

impl FederationCookie {
    fn name(self, state: &AppState) -> String {
        let base = match self {
            FederationCookie::Binding => "gh_fed",
            FederationCookie::LinkWait => "gh_fedlink",
        };
        format!("{}{base}", prefix(state))
    }

    /// Its value in the request, if sent once and well formed.
    pub fn read(self, state: &AppState, headers: &HeaderMap) -> Option<String> {
        cookie(headers, &self.name(state)).filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    }

    /// `Set-Cookie` for `value`, for ten minutes. The binding comes back with the IdP's
    /// redirect or its form POST (Apple's `form_post`, a cross-site POST): over https it
    /// is `SameSite=None` for that; over plain http (loopback tests) browsers refuse
    /// `None` without `Secure`, so it is `Lax` and `form_post` needs https.
    pub fn set(self, state: &AppState, value: &str) -> HeaderValue {
        let same_site = match (self, state.config.is_https()) {
            (FederationCookie::Binding, true) => "None",
            _ => "Lax",
        };
        let v = format!(
            "{}={value}; Max-Age={}; {}",
            self.name(state),
            crate::flows::federation::FLOW_TTL,
            cookie_attrs(state, same_site)
        );
        HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static(""))
    }

    /// `Set-Cookie` removing it.
    pub fn clear(self, state: &AppState) -> HeaderValue {
        let v = format!(
            "{}=; Max-Age=0; {}",
            self.name(state),
            cookie_attrs(state, "Lax")
        );
        HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static(""))
    }
}

/// The CSRF token for the page's forms, and the `Set-Cookie` to send when the browser has
/// no CSRF cookie yet.
pub fn csrf_token(state: &AppState, headers: &HeaderMap) -> (String, Vec<HeaderValue>) {
    let name = csrf_cookie_name(state);
    let mut set = Vec::new();
    let value = match cookie(headers, &name).filter(|v| v.len() == 43) {
        Some(v) => v,
        None => {
            let v = accounts::secret::random_token().expose().to_string();
            let cookie = format!("{name}={v}; {}", cookie_attrs(state, "Strict"));
            set.extend(HeaderValue::from_str(&cookie).ok());
            v
        }
    };
    // Every page with a form gives the browser its device cookie, so the sign-in the form
    // makes already carries it.
    if device(state, headers).is_none() {
        let v = accounts::secret::random_token().expose().to_string();
        let cookie = format!(
            "{}={v}; Max-Age={DEVICE_MAX_AGE}; {}",
            device_cookie_name(state),
            cookie_attrs(state, "Lax")
        );
        set.extend(HeaderValue::from_str(&cookie).ok());
    }
    (state.users.mac(CSRF_PURPOSE, &value), set)
}

/// Whether a form POST is genuine: same origin, and its token matches the CSRF cookie.
pub fn csrf_ok(state: &AppState, headers: &HeaderMap, token: &str) -> bool {
    let header_str = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if header_str("sec-fetch-site").is_some_and(|s| s != "same-origin" && s != "none") {
        return false;
    }
    if let Some(origin) = header_str("origin") {
        let ours = state.config.public_url.origin().ascii_serialization();
        if origin != ours {
            return false;
        }
    }
    match cookie(headers, &csrf_cookie_name(state)) {
        Some(c) => !token.is_empty() && equal(token, &state.users.mac(CSRF_PURPOSE, &c)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(
                header::COOKIE,
                HeaderValue::from_str(c).unwrap_or(HeaderValue::from_static("")),
            );
        }
        h
    }

    #[test]
    fn a_cookie_sent_once_is_read_and_a_repeated_one_is_not() {
        let h = headers(&["a=1; gh_csrf=xyz", "b=2"]);
        assert_eq!(cookie(&h, "gh_csrf").as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "b").as_deref(), Some("2"));
        assert_eq!(cookie(&h, "gh"), None);
        // Two values (one planted by a sibling site, say): neither is trusted.
        let h = headers(&["gh_csrf=one", "gh_csrf=two"]);
        assert_eq!(cookie(&h, "gh_csrf"), None);
    }
}
