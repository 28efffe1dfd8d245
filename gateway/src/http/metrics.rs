//! `GET /metrics` at the root: every series of [`crate::metrics`] in the Prometheus text
//! format 0.0.4, and the layer that counts each HTTP request by its route template.

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::AppError;
use super::extract::bearer_token;
use crate::metrics::{self, Metrics, UNMATCHED_ROUTE};
use crate::state::AppState;

/// How long a scrape waits for the outbox count before it answers with the last one.
const OUTBOX_COUNT_TIMEOUT: Duration = Duration::from_secs(1);

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

/// The series, for Prometheus. With `GATEHOUSE_METRICS_TOKEN` set, only for a bearer of that
/// token (compared in constant time, as the admin token); otherwise for anyone who reaches
/// the listener (docs/operations.md: keep it off the public side of the proxy). The outbox
/// depth is counted now, in one indexed `COUNT`; if the database does not answer within a
/// second, the last count is shown and the scrape still succeeds.
async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    if let Some(expected) = &state.config.metrics_token {
        let given = bearer_token(&headers).unwrap_or_default();
        let same = aws_lc_rs::constant_time::verify_slices_are_equal(
            given.as_bytes(),
            expected.expose().as_bytes(),
        )
        .is_ok();
        if !same || given.is_empty() {
            return Err(AppError::Unauthorized);
        }
    }
    match tokio::time::timeout(OUTBOX_COUNT_TIMEOUT, state.store.count_pending_mail()).await {
        Ok(Ok(depth)) => state.metrics.set_outbox_depth(depth),
        Ok(Err(e)) => tracing::warn!(error = %e, "the mail outbox could not be counted"),
        Err(_) => tracing::warn!("the mail outbox could not be counted within a second"),
    }
    let body = state
        .metrics
        .render()
        .map_err(|_| AppError::Internal("the metrics did not render".into()))?;
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response())
}

/// Counts each request by route template (axum's `MatchedPath`, e.g.
/// `/pools/{pool}/v1/sessions/siwe`; [`UNMATCHED_ROUTE`] when no route matched), method and
/// status, and times it until its response head is ready. The raw path never becomes a
/// label: it may hold an email, an address or a pool that does not exist.
pub(super) async fn track(
    State(metrics): State<Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let method = method_label(req.method());
    let res = next.run(req).await;
    metrics.http_request(
        route.as_deref().unwrap_or(UNMATCHED_ROUTE),
        method,
        res.status().as_u16(),
        started.elapsed(),
    );
    res
}

/// The standard methods by name; anything else a client sends is `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::post;
    use tower::ServiceExt;

    /// Routes are counted by template, nested ones with their prefix; a path that matched no
    /// route is `unmatched`, and an odd method `other`.
    #[tokio::test]
    async fn requests_are_counted_by_route_template() {
        let metrics = Arc::new(Metrics::new());
        let nested = Router::new().route("/v1/items/{id}", post(|| async { "ok" }));
        let app = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .nest("/pools/{pool}", nested)
            .layer(axum::middleware::from_fn_with_state(metrics.clone(), track));
        let send = |method: &str, path: &str| {
            let req = axum::http::Request::builder()
                .method(method)
                .uri(path)
                .body(Body::empty())
                .unwrap_or_default();
            app.clone().oneshot(req)
        };
        for (method, path) in [
            ("POST", "/pools/acme/v1/items/alice@example.com"),
            ("POST", "/pools/other/v1/items/0xAbC"),
            ("GET", "/healthz"),
            ("GET", "/pools/acme/nothing-here/bob@example.com"),
            ("BREW", "/healthz"),
        ] {
            let _ = send(method, path).await;
        }
        let text = metrics.render().unwrap_or_default();
        for line in [
            r#"gatehouse_http_requests_total{route="/pools/{pool}/v1/items/{id}",method="POST",status="200"} 2"#,
            r#"gatehouse_http_requests_total{route="/healthz",method="GET",status="200"} 1"#,
            r#"gatehouse_http_requests_total{route="unmatched",method="GET",status="404"} 1"#,
            r#"gatehouse_http_request_duration_seconds_count{route="/pools/{pool}/v1/items/{id}",method="POST"} 2"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
        assert!(
            text.contains(r#"route="/healthz",method="other""#),
            "{text}"
        );
        for raw in ["acme", "alice", "0xAbC", "bob", "BREW"] {
            assert!(!text.contains(raw), "{raw} reached a label:\n{text}");
        }
    }
}
