//! The HTTP API. The router reads as a table of contents: one `router()` per resource, all
//! pool-scoped ones under the pool's issuer path `/pools/{pool}`. The API's routers register
//! each handler together with its OpenAPI operation (`utoipa_axum::routes!`), so the document
//! served at `/openapi.json` is collected from the same table (see `openapi`).

mod admin;
pub mod browser;
pub mod code;
pub mod error;
pub mod extract;
mod health;
mod identities;
pub(super) mod me;
mod metrics;
mod mfa;
mod my_data;
mod oauth;
pub mod openapi;
pub mod pages;
mod passkeys;
mod recovery;
pub mod response;
mod sessions;
mod signup;
mod storage;
mod wallets;
mod wellknown;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;
use error::AppError;

/// Request bodies larger than this answer 413.
pub const BODY_LIMIT: usize = 64 * 1024;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route: the API's registered with their OpenAPI operations, the hosted pages and
/// the root's without.
fn routes() -> OpenApiRouter<AppState> {
    let pool_api = OpenApiRouter::new()
        .merge(wellknown::router())
        .merge(signup::router())
        .merge(sessions::router())
        .merge(recovery::router())
        .merge(me::router())
        .merge(my_data::router())
        .merge(mfa::router())
        .merge(passkeys::router())
        .merge(wallets::router())
        .merge(identities::router())
        .merge(storage::router())
        .merge(oauth::router())
        .merge(pages::router().into());
    OpenApiRouter::new()
        .merge(health::router().into())
        .merge(metrics::router().into())
        .merge(admin::router())
        .nest("/pools/{pool}", pool_api)
}

/// Every route with the middleware every answer goes through, and `/openapi.json`.
pub fn app(state: AppState) -> Router {
    let (routes, doc) = routes().split_for_parts();
    let hsts = state.config.is_https().then(|| {
        SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        )
    });
    let counted = axum::middleware::from_fn_with_state(state.metrics.clone(), metrics::track);
    let admitted = axum::middleware::from_fn_with_state(
        Arc::new(Semaphore::new(state.config.max_in_flight)),
        admit,
    );
    routes
        .merge(openapi::router(&openapi::finish(doc)))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    // The path only: queries and bodies may carry secrets.
                    tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(axum::middleware::from_fn(request_id_on_server_errors))
                .layer(CatchPanicLayer::custom(|_| panic_response()))
                .layer(axum::middleware::from_fn_with_state(REQUEST_DEADLINE, deadline))
                .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
                .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
                .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
                .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
                ))
                .option_layer(hsts)
                // Innermost: a refusal at capacity still carries the request id and the
                // security headers of every answer.
                .layer(admitted),
        )
        // Outermost: every answer is counted, the deadline's 503 and a panic's 500 too.
        .layer(counted)
        .with_state(state)
}

/// Works on at most `GATEHOUSE_MAX_IN_FLIGHT` requests at once: one past it is answered 503
/// `overloaded` with `Retry-After: 1` at once, before anything is read or done, so a load
/// beyond capacity costs fast refusals instead of latency that grows with the queue (and
/// memory with it). Health checks and metrics are always answered, so a balancer and a
/// scraper still see the instance.
async fn admit(
    axum::extract::State(slots): axum::extract::State<Arc<Semaphore>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics") {
        return next.run(req).await;
    }
    let Ok(_slot) = slots.try_acquire_owned() else {
        return AppError::from(accounts::Error::Overloaded("requests in flight")).into_response();
    };
    next.run(req).await
}

/// How long a request may take before it is answered 503 (a backing service too slow).
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// Answers a request that is not done within `limit` with 503 `unavailable`, a problem body
/// and `Retry-After`, like any other outage (the work it was waiting on is dropped).
async fn deadline(
    axum::extract::State(limit): axum::extract::State<Duration>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            AppError::Unavailable(format!("no answer within {} s", limit.as_secs())).into_response()
        }
    }
}

/// A 500 answer (a bug) carries the request id in its problem body, the same id the log's
/// span has, so a person can report it and an operator find it; nothing else of the cause.
async fn request_id_on_server_errors(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let res = next.run(req).await;
    let (Some(id), axum::http::StatusCode::INTERNAL_SERVER_ERROR) = (id, res.status()) else {
        return res;
    };
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut problem)) => {
            problem.insert("request_id".into(), serde_json::Value::String(id));
            let json = serde_json::Value::Object(problem).to_string();
            parts.headers.remove(header::CONTENT_LENGTH);
            axum::body::Body::from(json)
        }
        _ => axum::body::Body::from(bytes),
    };
    Response::from_parts(parts, body)
}

fn panic_response() -> Response {
    tracing::error!("handler panicked");
    error::problem(
        code::Code::InternalError,
        "something went wrong on our side",
    )
}

async fn not_found() -> Response {
    AppError::refused(code::Code::NotFound, "no such resource").into_response()
}

async fn method_not_allowed() -> Response {
    AppError::MethodNotAllowed.into_response()
}

/// `303 See Other` to `location`, setting `cookies` (the redirects of the authorization
/// flow and the hosted pages).
pub(crate) fn see_other(
    location: &str,
    cookies: &[axum::http::HeaderValue],
) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::IntoResponse;
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    for c in cookies {
        res.headers_mut().append(header::SET_COOKIE, c.clone());
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    /// A request past its deadline gets the outage answer: 503, a problem body with the
    /// stable code, and `Retry-After`; one within it is untouched.
    #[tokio::test]
    async fn a_slow_request_is_answered_503_with_a_body() {
        let app: Router = Router::new()
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/fast", axum::routing::get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(
                Duration::from_millis(50),
                deadline,
            ));
        let get = |path: &str| {
            axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap_or_default()
        };
        let res = app.clone().oneshot(get("/slow")).await.unwrap_or_default();
        assert_eq!(res.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(res.headers().contains_key(header::RETRY_AFTER));
        let body = axum::body::to_bytes(res.into_body(), 4096)
            .await
            .unwrap_or_default();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(problem["code"], "unavailable", "{problem}");
        let res = app.oneshot(get("/fast")).await.unwrap_or_default();
        assert_eq!(res.status(), axum::http::StatusCode::OK);
    }
}
