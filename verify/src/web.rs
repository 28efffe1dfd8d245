//! axum and tower integration (feature `axum`): an extractor and a layer that answer a
//! missing or invalid bearer token with 401 and `WWW-Authenticate` per RFC 6750 §3.

use axum::body::Body;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::{AccessClaims, Error, Verifier};

/// The validated claims of the request's bearer access token. Takes them from
/// [`RequireBearerLayer`] when it ran, else validates with the state's [`Verifier`].
pub struct Bearer(pub AccessClaims);

/// A refused request: 401 with `WWW-Authenticate`.
#[derive(Debug)]
pub struct Rejection(Option<Error>);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        // The issuer's keys could not be had: the token may well be valid, so do not tell
        // the client to drop it.
        if let Some(e @ (Error::Fetch(_) | Error::Config(_))) = &self.0 {
            tracing::error!(error = %e, "cannot validate bearer tokens");
            let body = serde_json::json!({ "error": "temporarily_unavailable" });
            return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
        }
        // RFC 6750 §3.1: no error code when the request carried no token at all.
        let (challenge, body) = match &self.0 {
            None => (
                "Bearer",
                serde_json::json!({ "error": "invalid_request", "error_description": "a bearer token is required" }),
            ),
            Some(e) => (
                "Bearer error=\"invalid_token\"",
                serde_json::json!({ "error": "invalid_token", "error_description": e.to_string() }),
            ),
        };
        let mut res = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        res
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

impl<S> FromRequestParts<S> for Bearer
where
    S: Send + Sync,
    Verifier: FromRef<S>,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        if let Some(claims) = parts.extensions.get::<AccessClaims>() {
            return Ok(Bearer(claims.clone()));
        }
        let token = bearer_token(&parts.headers).ok_or(Rejection(None))?;
        let verifier = Verifier::from_ref(state);
        verifier
            .verify_access_token(&token)
            .await
            .map(Bearer)
            .map_err(|e| Rejection(Some(e)))
    }
}

/// A tower layer that lets through only requests with a valid access token, and puts its
/// [`AccessClaims`] in the request's extensions.
#[derive(Clone)]
pub struct RequireBearerLayer {
    verifier: Verifier,
}

impl RequireBearerLayer {
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }
}

impl<S> tower_layer::Layer<S> for RequireBearerLayer {
    type Service = RequireBearer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireBearer {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RequireBearer<S> {
    inner: S,
    verifier: Verifier,
}

impl<S> tower_service::Service<Request<Body>> for RequireBearer<S>
where
    S: tower_service::Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let verifier = self.verifier.clone();
        // The clone that was polled ready serves this request (tower's usual dance).
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        Box::pin(async move {
            let Some(token) = bearer_token(req.headers()) else {
                return Ok(Rejection(None).into_response());
            };
            match verifier.verify_access_token(&token).await {
                Ok(claims) => {
                    req.extensions_mut().insert(claims);
                    inner.call(req).await
                }
                Err(e) => Ok(Rejection(Some(e)).into_response()),
            }
        })
    }
}
