//! The hosted pages: `/login`, `/signup`, `/recover` and their follow-up steps, served under
//! the pool's issuer. Server-rendered HTML with no front-end build step; one script (the
//! wallet button) and two stylesheets, all served from here, so the Content-Security-Policy
//! allows no inline code at all. Forms carry a CSRF token (see `browser`); pages cannot be
//! framed. Errors are told in words; the stable codes stay in the API.
//!
//! Each page is one askama template in `gateway/templates/pages/` (HTML-escaped by the
//! engine) around `base.html`; its words come from [`crate::words`].

mod account;
mod federation;
mod login;
mod mfa;
mod my_account;

use accounts::store::PoolRecord;
use askama::Template;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::de::DeserializeOwned;
use url::Url;

use super::browser;
use super::error::{AppError, Code};
use super::extract::Pool;
use crate::state::AppState;
use crate::words::{PageWords, Words, words};

pub use login::signed_in;
pub use mfa::needs_step_up;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login::page).post(login::password))
        .route("/login/siwe", post(login::wallet))
        .route("/login/mfa", post(mfa::answer))
        .route("/login/passkey", post(login::passkey))
        .route("/login/mfa/email", post(mfa::send_email_code))
        .route("/login/step-up", get(mfa::step_up_page))
        .route("/login/siwe/message", post(login::siwe_message))
        .route("/federation/{idp}/start", get(federation::start))
        .route(
            "/federation/{idp}/callback",
            get(federation::callback_get).post(federation::callback_post),
        )
        .route("/saml/{idp}/metadata", get(federation::saml_metadata))
        .route("/saml/{idp}/acs", post(federation::saml_acs))
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
        .route("/account", get(my_account::page))
        .route("/account/sessions/end", post(my_account::end_session))
        .route("/account/password", post(my_account::change_password))
        .route("/account/delete", post(my_account::delete))
        .route(
            "/account/identities/remove",
            post(my_account::unlink_identity),
        )
        .route("/assets/pages.css", get(stylesheet))
        .route("/assets/brand.css", get(brand_stylesheet))
        .route("/assets/login.js", get(script))
        .route("/assets/passkey.js", get(passkey_script))
        .route("/assets/idp/{file}", get(idp_icon))
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

/// What every page shows around its content (`templates/pages/base.html`): the pool's name
/// and logo, the title, a notice, and what went wrong in words.
pub struct Frame<'a> {
    pub w: &'static Words,
    pub p: &'static PageWords,
    /// The issuer path, the base of every link on a page.
    pub base: String,
    pub pool_name: &'a str,
    pub logo_url: Option<&'a str>,
    pub title: &'a str,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// Whether the page loads the wallet script.
    pub script: bool,
    /// Whether the page loads the passkey script.
    pub passkeys: bool,
}

impl<'a> Frame<'a> {
    pub fn new(pool: &'a PoolRecord, title: &'a str) -> Self {
        let w = words();
        Frame {
            w,
            p: &w.page,
            base: base(pool),
            pool_name: &pool.config.display_name,
            logo_url: pool.config.branding.logo_url.as_deref(),
            title,
            notice: None,
            error: None,
            script: false,
            passkeys: false,
        }
    }
}

/// The hidden fields a step's form carries from page to page, and the email it keeps.
pub(super) struct FormState<'a> {
    pub csrf: String,
    pub authz: &'a str,
    /// `?authz=…` for the page's links (empty without a pending authorization).
    pub authz_query: String,
    pub email: &'a str,
}

impl<'a> FormState<'a> {
    pub fn new(csrf: String, authz: &'a str, email: &'a str) -> Self {
        FormState {
            csrf,
            authz,
            authz_query: authz_query(authz),
            email,
        }
    }
}

/// A page that only tells something (`templates/pages/message.html`).
#[derive(Template)]
#[template(path = "pages/message.html")]
struct MessagePage<'a> {
    frame: Frame<'a>,
}

#[derive(Template)]
#[template(path = "pages/logout_confirm.html")]
struct LogoutPage<'a> {
    frame: Frame<'a>,
    csrf: String,
    client_id: &'a str,
    redirect: &'a str,
    post_state: &'a str,
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

/// Answers with `page` and `status`, a strict CSP and `cookies` set. `form_target` is where
/// the page's forms may lead besides this gateway (the client's redirect URI, which a
/// successful sign-in redirects to: CSP `form-action` covers redirects).
pub fn respond(
    pool: &PoolRecord,
    page: &impl Template,
    status: StatusCode,
    form_target: Option<&str>,
    cookies: &[HeaderValue],
) -> Response {
    let html = match page.render() {
        Ok(html) => html,
        Err(e) => return AppError::Internal(format!("a page did not render: {e}")).into_response(),
    };
    let img = pool
        .config
        .branding
        .logo_url
        .as_deref()
        .and_then(csp_source)
        .map(|s| format!(" {s}"))
        .unwrap_or_default();
    let form = form_target
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

/// A page with a title and a notice, or what went wrong with its status.
pub fn message(
    pool: &PoolRecord,
    title: &str,
    notice: Option<&str>,
    refused: Option<(StatusCode, &str)>,
    cookies: &[HeaderValue],
) -> Response {
    let mut frame = Frame::new(pool, title);
    frame.notice = notice.map(str::to_string);
    frame.error = refused.map(|(_, e)| e.to_string());
    let status = refused.map_or(StatusCode::OK, |(s, _)| s);
    respond(pool, &MessagePage { frame }, status, None, cookies)
}

/// A page that only explains what went wrong.
pub fn error_page(pool: &PoolRecord, status: StatusCode, title: &str, message: &str) -> Response {
    self::message(pool, title, None, Some((status, message)), &[])
}

/// The answer to a form whose CSRF token is missing or wrong: nothing was done.
pub fn csrf_failed(pool: &PoolRecord) -> Response {
    let code = Code::CsrfInvalid;
    error_page(pool, code.status(), words().page.csrf_title, code.words())
}

/// How a refused request is shown: its code's status and words. Server-side failures are
/// logged here, never shown.
pub fn refusal(e: &AppError) -> (StatusCode, String) {
    if e.is_server_error() {
        tracing::error!(error = ?e, "hosted page");
    }
    let code = e.code();
    // A pool's hook that refused says why in its own words (the API says only the code).
    if let AppError::Domain(
        accounts::Error::SignUpDenied(message) | accounts::Error::SignInDenied(message),
    ) = e
    {
        return (code.status(), message.clone());
    }
    (code.status(), code.words().to_string())
}

/// `?authz=…` carrying a pending authorization from page to page (URL-encoded; the template
/// escapes it), or nothing.
fn authz_query(authz: &str) -> String {
    if authz.is_empty() {
        return String::new();
    }
    let encoded: String = url::form_urlencoded::byte_serialize(authz.as_bytes()).collect();
    format!("?authz={encoded}")
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
    let p = &words().page;
    let mut frame = Frame::new(pool, p.logout_title);
    frame.notice = Some(p.logout_question.into());
    let page = LogoutPage {
        frame,
        csrf,
        client_id: client_id.unwrap_or_default(),
        redirect: redirect.unwrap_or_default(),
        post_state: post_state.unwrap_or_default(),
    };
    respond(pool, &page, StatusCode::OK, redirect, set.as_slice())
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

/// The IdP buttons' marks (`assets/idp/`), by name.
async fn idp_icon(
    axum::extract::Path((_, file)): axum::extract::Path<(String, String)>,
) -> Response {
    let svg = match file.as_str() {
        "google.svg" => include_str!("../../../assets/idp/google.svg"),
        "microsoft.svg" => include_str!("../../../assets/idp/microsoft.svg"),
        "apple.svg" => include_str!("../../../assets/idp/apple.svg"),
        "github.svg" => include_str!("../../../assets/idp/github.svg"),
        "generic.svg" => include_str!("../../../assets/idp/generic.svg"),
        _ => return AppError::refused(Code::NotFound, "no such asset").into_response(),
    };
    asset("image/svg+xml", svg.to_string())
}

async fn passkey_script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../../assets/passkey.js").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

/// A pool for the pages' unit tests: `display_name` as given, a logo and a minimum password
/// length of 12.
#[cfg(test)]
pub(super) fn test_pool(display_name: &str) -> PoolRecord {
    let mut config = accounts::policy::PoolConfig {
        display_name: display_name.into(),
        password_min_length: 12,
        ..Default::default()
    };
    config.branding.logo_url = Some("https://cdn.example/logo.svg?a=1&b=\"2\"".into());
    PoolRecord {
        id: accounts::PoolId::new(),
        name: "main".into(),
        config,
        created_at: 0,
        version: 1,
        updated_at: 0,
    }
}

#[cfg(test)]
mod page_tests {
    use super::*;

    const EVIL: &str = r#"<script>alert("x")</script> & 'co'"#;

    async fn body(res: Response) -> String {
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_frame_escapes_the_pool_and_keeps_a_strict_policy() {
        let pool = test_pool(EVIL);
        let res = message(
            &pool,
            "Hello",
            Some(EVIL),
            Some((StatusCode::BAD_REQUEST, EVIL)),
            &[],
        );
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let csp = res.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("img-src 'self' https://cdn.example;"), "{csp}");
        assert!(!csp.contains("unsafe-inline"));
        let html = body(res).await;
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;co&#39;")
        );
        assert!(html.contains(r#"<p class="error" role="alert" id="error">&#60;script"#));
        assert!(html.contains(r#"<p class="notice" role="status">&#60;script"#));
        assert!(html.contains(r#"src="https://cdn.example/logo.svg?a=1&#38;b=&#34;2&#34;""#));
        assert!(html.contains(r#"<link rel="stylesheet" href="/pools/main/assets/pages.css">"#));
        // No script on a page that does not need the wallet, and never an inline one.
        assert!(!html.contains("<script"));
        assert!(!html.contains("style="));
    }

    #[tokio::test]
    async fn the_logout_confirmation_escapes_what_the_link_carried() {
        let pool = test_pool("Acme");
        let page = LogoutPage {
            frame: Frame::new(&pool, words().page.logout_title),
            csrf: "tok".into(),
            client_id: EVIL,
            redirect: "https://app.example/bye",
            post_state: "\"><b>",
        };
        let res = respond(&pool, &page, StatusCode::OK, Some(page.redirect), &[]);
        let csp = res.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            csp.contains("form-action 'self' https://app.example;"),
            "{csp}"
        );
        let html = body(res).await;
        assert!(html.contains(
            r#"<form id="logout-form" method="post" action="/pools/main/oauth2/logout">"#
        ));
        assert!(html.contains(r#"<input type="hidden" name="csrf" value="tok">"#));
        assert!(
            html.contains(r#"name="state" value="&#34;&#62;&#60;b&#62;""#),
            "{html}"
        );
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn every_error_code_a_page_shows_has_its_words_and_status() {
        let (status, words) = refusal(&AppError::Domain(accounts::Error::InvalidCredentials));
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(words.contains("don't match"));
        let (status, words) = refusal(&AppError::Internal("a bug".into()));
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!words.contains("bug"));
    }
}
