//! The one way the gateway builds an HTTP client for calls it makes out (a breach corpus, an
//! upstream IdP): rustls with aws-lc-rs (the provider the rest of the gateway uses, so no
//! second crypto library) and the webpki (Mozilla) roots built into the binary, a timeout
//! on every call, and no redirect ever followed (a redirect could lead a request where its
//! URL was not checked).

use std::sync::Arc;
use std::time::Duration;

/// A client whose every call times out after `timeout`; `what` names it in the error.
pub fn client(what: &str, timeout: Duration) -> Result<reqwest::Client, String> {
    let failed = |e: String| format!("the HTTP client for {what}: {e}");
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| failed(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Gatehouse")
        .build()
        .map_err(|e| failed(e.to_string()))
}

/// Why an answer could not be read whole.
#[derive(Debug)]
pub enum ReadError {
    /// Over the caller's bound (by its `Content-Length`, or as it arrived).
    TooLarge,
    /// The transfer failed (a timeout included: [`reqwest::Error::is_timeout`]).
    Transport(reqwest::Error),
}

/// An answer's body, at most `max` bytes: refused by its `Content-Length` before reading,
/// or as soon as the chunks read pass the bound.
pub async fn read_bounded(mut res: reqwest::Response, max: usize) -> Result<Vec<u8>, ReadError> {
    if res.content_length().is_some_and(|n| n > max as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(ReadError::Transport)? {
        if body.len() + chunk.len() > max {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport error in words, without its URL (which may hold a secret in its query).
pub fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "no connection"
    } else {
        "no answer"
    };
    format!("{kind}: {}", e.without_url())
}
