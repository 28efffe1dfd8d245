//! A pool's audit log: filtered by account, kind and time, newest first in keyset pages;
//! with `Accept: application/x-ndjson`, every matching event streamed as one JSON line
//! each, read page by page so nothing is held in memory but the page being written.

use accounts::store::AuditFilter;
use accounts::{AccountId, AuditView};
use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, Page, cut, invalid_cursor};
use crate::http::error::{AppError, Code};
use crate::http::extract::Pool;
use crate::http::openapi::Problem;
use crate::state::AppState;

/// Events per page read from the store while streaming.
const STREAM_PAGE: i64 = 500;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read_audit))
}

/// `?sub=&kind=&since=&until=&cursor=&limit=` (times in Unix seconds).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// Events of this account only.
    #[param(format = "uuid")]
    sub: Option<String>,
    /// Events of this kind only (`signed_in`, `client_created`, …).
    kind: Option<String>,
    /// At or after (Unix seconds).
    since: Option<i64>,
    /// Before (Unix seconds).
    until: Option<i64>,
    /// Where the page starts: the `next_cursor` of the page before.
    cursor: Option<String>,
    /// How many, at most (1 to 1000, default 50; not for the stream).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
struct AuditList {
    events: Vec<AuditView>,
    next_cursor: Option<String>,
}

fn wants_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().starts_with("application/x-ndjson"))
        })
}

/// The pool's audit events, newest first: a page, or with `Accept: application/x-ndjson`
/// every matching event as one JSON object (an `AuditView`) per line.
#[utoipa::path(get, path = "/admin/v1/pools/{pool}/audit", security(("admin" = [])), params(AuditQuery), responses(
    (status = 200, description = "A page of events, or the stream of them all", content(
        (AuditList = "application/json"),
        (String = "application/x-ndjson"),
    )),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
))]
async fn read_audit(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Result<Response, AppError> {
    admin.read(&pool)?;
    let account = q
        .sub
        .as_deref()
        .map(|s| {
            AccountId::parse(s)
                .ok_or_else(|| AppError::refused(Code::InvalidQuery, "sub: not a user id"))
        })
        .transpose()?;
    let filter = AuditFilter {
        account,
        kind: q.kind,
        since: q.since,
        until: q.until,
    };
    let page = Page {
        cursor: q.cursor,
        limit: q.limit,
    };
    let before = page
        .cursor_text()?
        .map(|c| c.parse::<i64>().map_err(|_| invalid_cursor()))
        .transpose()?;
    if wants_ndjson(&headers) {
        return Ok(stream(state, pool, filter, before));
    }
    let limit = page.limit(1000)?;
    let mut events = state
        .users
        .audit_page(&pool, &filter, before, limit + 1)
        .await?;
    let next_cursor = cut(&mut events, limit, |e| e.id.to_string());
    Ok(Json(AuditList {
        events,
        next_cursor,
    })
    .into_response())
}

/// Every matching event, newest first, one JSON object per line. A store failure midway
/// ends the stream with an error (the client sees a truncated body, never a wrong one).
fn stream(
    state: AppState,
    pool: std::sync::Arc<accounts::store::PoolRecord>,
    filter: AuditFilter,
    before: Option<i64>,
) -> Response {
    let pages = futures_util::stream::unfold(Some(before), move |next| {
        let state = state.clone();
        let pool = pool.clone();
        let filter = filter.clone();
        async move {
            let before = next?;
            let page = match state
                .users
                .audit_page(&pool, &filter, before, STREAM_PAGE)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "audit stream failed");
                    return Some((Err(std::io::Error::other("audit read failed")), None));
                }
            };
            let last = page.last().map(|e| e.id)?;
            let mut chunk = Vec::with_capacity(page.len() * 160);
            for e in &page {
                if serde_json::to_writer(&mut chunk, e).is_err() {
                    return Some((Err(std::io::Error::other("audit encoding failed")), None));
                }
                chunk.push(b'\n');
            }
            let more = page.len() as i64 == STREAM_PAGE;
            Some((Ok(chunk), more.then_some(Some(last))))
        }
    });
    let mut res = Body::from_stream(pages).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    res
}
