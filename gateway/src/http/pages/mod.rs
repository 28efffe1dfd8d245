//! The hosted pages: `/login`, `/signup`, `/recover` and their follow-up steps, served under
//! the pool's issuer. Server-rendered HTML with no front-end build step; one script (the
//! wallet button) and two stylesheets, all served from here, so the Content-Security-Policy
//! allows no inline code at all. Forms carry a CSRF token (see `browser`); pages cannot be
//! framed. Errors are told in words; the stable codes stay in the API.

mod account;
mod login;

use accounts::store::PoolRecord;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::de::DeserializeOwned;
use url::Url;

use super::browser;
use super::error::AppError;
use super::extract::Pool;
use crate::state::AppState;

pub use login::signed_in;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login::page).post(login::password))
        .route("/login/siwe", post(login::wallet))
        .route("/login/siwe/message", post(login::siwe_message))
        .route("/signup", get(account::signup_page).post(account::signup))
        .route("/signup/confirm", post(account::confirm_signup))
        .route(
            "/recover",
            get(account::recover_page).post(account::recover),
        )
        .route("/recover/confirm", post(account::confirm_recovery))
        .route(
            "/email-change/undo",
            get(account::undo_page).post(account::undo_email_change),
        )
        .route("/assets/pages.css", get(stylesheet))
        .route("/assets/brand.css", get(brand_stylesheet))
        .route("/assets/login.js", get(script))
}

/// A form one of the pages posted, whose CSRF token matched (see `browser`); otherwise the
/// request is answered with the "please try again" page and nothing is done.
pub struct PageForm<T>(pub T);

/// Where a form keeps its CSRF token.
pub trait CsrfToken {
    fn csrf(&self) -> &str;
}

impl CsrfToken for std::collections::HashMap<String, String> {
    fn csrf(&self) -> &str {
        self.get("csrf").map_or("", String::as_str)
    }
}

impl<T> FromRequest<AppState> for PageForm<T>
where
    T: DeserializeOwned + CsrfToken + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Pool(pool) = Pool::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let headers = parts.headers.clone();
        let Form(form) = Form::<T>::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        if !browser::csrf_ok(state, &headers, form.csrf()) {
            return Err(csrf_failed(&pool));
        }
        Ok(PageForm(form))
    }
}

/// HTML-escapes text for element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// A hidden form field.
fn hidden(name: &str, value: &str) -> String {
    format!(
        r#"<input type="hidden" name="{}" value="{}">"#,
        esc(name),
        esc(value)
    )
}

/// What a stable error code means to a person.
pub fn words(code: &str) -> &'static str {
    match code {
        "invalid_credentials" => {
            "That email and password don't match an account. Check them and try again."
        }
        "account_disabled" => "This account is disabled. Contact the service's support.",
        "rate_limited" => "Too many attempts. Wait a few minutes, then try again.",
        "invalid_email" => "Enter a valid email address.",
        "password_policy" => {
            "Choose a longer password that isn't common and isn't your email address."
        }
        "code_invalid" => {
            "That code is wrong or has expired. Check the latest email, or ask for a new code."
        }
        "email_taken" => "That email address can't be used.",
        "nonce_invalid" => "The wallet request expired. Try signing in with your wallet again.",
        "signature_invalid" => "Your wallet's signature could not be checked. Try again.",
        "siwe_domain_mismatch" | "siwe_uri_mismatch" | "siwe_message_invalid" => {
            "The wallet signed a message for another site. Try again from this page."
        }
        "siwe_chain_not_allowed" => {
            "Your wallet is on a network this service doesn't accept. Switch networks and try again."
        }
        "siwe_expired" | "siwe_not_yet_valid" | "siwe_issued_at_invalid" => {
            "The wallet request is out of date. Check your device's clock and try again."
        }
        "chain_not_configured" | "chain_unavailable" => {
            "Your wallet's network can't be reached right now. Try again later."
        }
        "csrf_invalid" => {
            "This form expired or came from another site. Reload the page and try again."
        }
        "unavailable" => "The service is briefly unavailable. Try again in a moment.",
        "password_required" => "Enter the password you chose when you signed up.",
        "reauthentication_required" => "Sign in again to make this change.",
        "request_expired" => {
            "This sign-in took too long. Go back to the application and start again."
        }
        _ => "Something went wrong on our side. Try again in a moment.",
    }
}

/// A page: a title, an optional notice or error, and its body (already HTML).
#[derive(Default)]
pub struct Page {
    pub title: String,
    pub notice: Option<String>,
    /// What went wrong, in words, and the status the page answers with.
    pub refused: Option<(StatusCode, String)>,
    pub body: String,
    /// Where the page's forms may lead besides this gateway (the client's redirect URI,
    /// which a successful sign-in redirects to: CSP `form-action` covers redirects).
    pub form_target: Option<String>,
    /// Whether the page loads the wallet script.
    pub script: bool,
}

/// The issuer path (`/pools/{pool}`), the base of every link on a page.
fn base(pool: &PoolRecord) -> String {
    format!("/pools/{}", pool.name)
}

/// A CSP source for `url`'s origin, or its scheme for a private-use scheme (RFC 8252).
fn csp_source(url: &str) -> Option<String> {
    let u = Url::parse(url).ok()?;
    let source = match u.scheme() {
        "http" | "https" => u.origin().ascii_serialization(),
        s => format!("{s}:"),
    };
    // Only characters a CSP source may hold, so a registered URI can't add a directive.
    source
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b":/.-+[]".contains(&b))
        .then_some(source)
}

/// Renders `page` in the pool's look, with a strict CSP and `cookies` set.
pub fn render(pool: &PoolRecord, page: Page, cookies: &[HeaderValue]) -> Response {
    let b = base(pool);
    let brand = &pool.config.branding;
    let name = &pool.config.display_name;
    let logo = brand
        .logo_url
        .as_deref()
        .map(|u| format!(r#"<img class="logo" src="{}" alt="{}">"#, esc(u), esc(name)))
        .unwrap_or_default();
    let notice = page
        .notice
        .map(|n| format!(r#"<p class="notice" role="status">{}</p>"#, esc(&n)))
        .unwrap_or_default();
    let (status, error) = match page.refused {
        Some((status, e)) => (status, Some(e)),
        None => (StatusCode::OK, None),
    };
    let error = error
        .map(|e| {
            format!(
                r#"<p class="error" role="alert" id="error">{}</p>"#,
                esc(&e)
            )
        })
        .unwrap_or_default();
    let script = if page.script {
        format!(r#"<script src="{b}/assets/login.js" defer></script>"#)
    } else {
        String::new()
    };
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · {name}</title>
<link rel="stylesheet" href="{b}/assets/pages.css">
<link rel="stylesheet" href="{b}/assets/brand.css">
{script}
</head>
<body>
<main class="card" aria-labelledby="title">
<header>{logo}<p class="brand">{name}</p></header>
<h1 id="title">{title}</h1>
{notice}{error}{body}
</main>
</body>
</html>
"#,
        title = esc(&page.title),
        name = esc(name),
        body = page.body,
    );
    let img = brand
        .logo_url
        .as_deref()
        .and_then(csp_source)
        .map(|s| format!(" {s}"))
        .unwrap_or_default();
    let form = page
        .form_target
        .as_deref()
        .and_then(csp_source)
        .map(|s| format!(" {s}"))
        .unwrap_or_default();
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'{img}; \
         connect-src 'self'; form-action 'self'{form}; frame-ancestors 'none'; base-uri 'none'"
    );
    let mut res = (status, html).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    // `same-origin`, not `no-referrer`: with no referrer at all, browsers send
    // `Origin: null` on the forms' POSTs, and the CSRF check needs the real origin.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    for c in cookies {
        h.append(header::SET_COOKIE, c.clone());
    }
    res
}

/// A page that only explains what went wrong.
pub fn error_page(pool: &PoolRecord, status: StatusCode, title: &str, message: &str) -> Response {
    render(
        pool,
        Page {
            title: title.into(),
            refused: Some((status, message.into())),
            ..Page::default()
        },
        &[],
    )
}

/// The answer to a form whose CSRF token is missing or wrong: nothing was done.
pub fn csrf_failed(pool: &PoolRecord) -> Response {
    error_page(
        pool,
        StatusCode::FORBIDDEN,
        "Please try again",
        words("csrf_invalid"),
    )
}

/// How a refused request is shown: its status, and its code in words. Server-side
/// failures are logged here, never shown.
pub fn refusal(e: &AppError) -> (StatusCode, String) {
    if e.is_server_error() {
        tracing::error!(error = ?e, "hosted page");
    }
    let status = match e.code() {
        "invalid_credentials" | "signature_invalid" => StatusCode::UNAUTHORIZED,
        "rate_limited" => StatusCode::TOO_MANY_REQUESTS,
        "account_disabled" => StatusCode::FORBIDDEN,
        "internal_error" => StatusCode::INTERNAL_SERVER_ERROR,
        _ if e.is_server_error() => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    (status, words(e.code()).to_string())
}

/// `?authz=…` carrying a pending authorization from page to page (HTML-escaped), or
/// nothing.
fn authz_query(authz: &str) -> String {
    if authz.is_empty() {
        return String::new();
    }
    let encoded: String = url::form_urlencoded::byte_serialize(authz.as_bytes()).collect();
    format!("?authz={}", esc(&encoded))
}

/// Asks the person to confirm a sign-out that their app's ID token did not vouch for.
pub fn logout_confirm(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    client_id: Option<&str>,
    redirect: Option<&str>,
    post_state: Option<&str>,
) -> Response {
    let (csrf, set) = browser::csrf_token(state, headers);
    let body = format!(
        r#"<form id="logout-form" method="post" action="{b}/oauth2/logout">{}{}{}{}<button type="submit">Sign out</button></form>"#,
        hidden("csrf", &csrf),
        hidden("client_id", client_id.unwrap_or_default()),
        hidden("post_logout_redirect_uri", redirect.unwrap_or_default()),
        hidden("state", post_state.unwrap_or_default()),
        b = base(pool),
    );
    render(
        pool,
        Page {
            title: "Sign out?".into(),
            notice: Some("Do you want to sign out of this service?".into()),
            body,
            form_target: redirect.map(str::to_string),
            ..Page::default()
        },
        set.as_slice(),
    )
}

fn asset(content_type: &'static str, body: String) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

async fn stylesheet() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../../assets/pages.css").to_string(),
    )
}

/// The pool's colours (checked `#rgb`/`#rrggbb` when the config was validated; checked
/// again here, so a bad value can only fall back to the default).
async fn brand_stylesheet(Pool(pool): Pool) -> Response {
    let b = &pool.config.branding;
    let pick = |c: &str, default: &'static str| {
        if accounts::policy::is_color(c) {
            c.to_string()
        } else {
            default.to_string()
        }
    };
    asset(
        "text/css; charset=utf-8",
        format!(
            ":root {{ --brand: {}; --page: {}; }}\n",
            pick(&b.primary_color, "#1f4fd1"),
            pick(&b.background_color, "#f3f4f6")
        ),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/login.js").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#x27;y&#x27;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn csp_sources_are_origins_only() {
        assert_eq!(
            csp_source("https://app.example:8443/cb?x=1").as_deref(),
            Some("https://app.example:8443")
        );
        assert_eq!(
            csp_source("com.example.app:/callback").as_deref(),
            Some("com.example.app:")
        );
        assert_eq!(csp_source("not a url"), None);
    }

    #[test]
    fn every_shown_code_has_words() {
        for code in [
            "invalid_credentials",
            "rate_limited",
            "csrf_invalid",
            "nonce_invalid",
        ] {
            assert_ne!(words(code), words("something_else"), "{code}");
        }
    }
}
