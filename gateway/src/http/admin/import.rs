//! `POST /admin/v1/pools/{pool}/users/import`: NDJSON in, NDJSON out, both streamed. Each
//! line of the body is one account ([`accounts::UserLine`]); the answer says, as it goes,
//! which lines were refused and why (`{"line", "code", "reason"}`), how far it got
//! (`{"progress": …}` every 1,000 lines) and, last, `{"done": …}`. An import cut short is
//! resumed with `?from_line=` the line after the last one reported done: earlier lines are
//! skipped unread. The body is never held whole: lines are read as they arrive (at most
//! 64 KiB each), and the answer starts at once, so no deadline cuts a long import.

use accounts::Imported;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Admin;
use crate::http::error::AppError;
use crate::http::extract::Pool;
use crate::http::openapi::Problem;
use crate::state::AppState;

/// The longest line read; a longer one is refused and skipped to its end.
const LINE_MAX: usize = 64 * 1024;
/// Lines written at once (ordered: the answer follows the body's order).
const IN_FLIGHT: usize = 8;
const PROGRESS_EVERY: u64 = 1_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import_users))
}

/// `?from_line=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    /// The first line to read (1 by default): resume an import cut short.
    from_line: Option<u64>,
}

/// A line of the body, as read: its number and text, or why it could not be read.
enum Read {
    Line(u64, String),
    TooLong(u64),
}

/// Imports accounts from NDJSON, one per line: `email`, `email_verified`, `status`,
/// `attributes`, `groups`, `wallets` (CAIP-10), `password_hash` (PHC argon2id/argon2i,
/// scrypt, pbkdf2-sha256, or bcrypt), and `sub` to keep an id. The answer is NDJSON, streamed.
#[utoipa::path(post, path = "/admin/v1/pools/{pool}/users/import", security(("admin" = [])),
    params(ImportQuery),
    request_body(content = String, content_type = "application/x-ndjson", description = "One account per line"),
    responses(
        (status = 200, content_type = "application/x-ndjson", body = String, description = "Refused lines, progress and a last `done` line, streamed"),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
    ))]
async fn import_users(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Query(q): Query<ImportQuery>,
    body: Body,
) -> Result<Response, AppError> {
    admin.write(&pool)?;
    let groups = state.users.group_names(&pool).await?;
    let from = q.from_line.unwrap_or(1).max(1);
    let (tx, rx) = tokio::sync::mpsc::channel::<Value>(64);
    let actor = admin.actor.clone();
    tokio::spawn(async move {
        let lines = lines(body.into_data_stream(), from);
        let users = &state.users;
        let pool = &pool;
        let groups = &groups;
        let actor = &actor;
        let clock = &state.clock;
        let results = lines
            .map(|read| async move {
                match read {
                    Read::TooLong(n) => (n, Ok(None)),
                    Read::Line(n, text) => {
                        let now = clock.now();
                        (
                            n,
                            users
                                .import_line(pool, groups, &text, actor, now)
                                .await
                                .map(Some),
                        )
                    }
                }
            })
            .buffered(IN_FLIGHT);
        let mut results = std::pin::pin!(results);
        let (mut imported, mut refused, mut last) = (0u64, 0u64, from.saturating_sub(1));
        let mut failure = None;
        while let Some((n, outcome)) = results.next().await {
            let report = match outcome {
                Ok(Some(Imported::Account(_))) => {
                    imported += 1;
                    None
                }
                Ok(Some(Imported::Refused(r))) => {
                    refused += 1;
                    Some(json!({ "line": n, "code": r.code, "reason": r.reason }))
                }
                Ok(None) => {
                    refused += 1;
                    Some(
                        json!({ "line": n, "code": "line_too_long", "reason": "a line is at most 64 KiB" }),
                    )
                }
                Err(e) => {
                    // The store failed: stop here; this line and the rest can be resumed.
                    tracing::error!(error = %e, line = n, "import stopped");
                    failure = Some(n);
                    break;
                }
            };
            last = n;
            if let Some(r) = report
                && tx.send(r).await.is_err()
            {
                return; // the client went away
            }
            if n % PROGRESS_EVERY == 0 {
                let progress =
                    json!({ "progress": { "line": n, "imported": imported, "refused": refused } });
                if tx.send(progress).await.is_err() {
                    return;
                }
            }
        }
        let done = json!({ "done": {
            "from_line": from, "last_line": last, "imported": imported, "refused": refused,
            "next_line": last + 1, "stopped": failure.map(|_| "the store failed: resume at next_line"),
        } });
        let summary = accounts::store::AuditEvent {
            pool_id: pool.id,
            account_id: None,
            kind: "users_imported",
            detail: json!({ "actor": actor, "from_line": from, "last_line": last, "imported": imported, "refused": refused }),
            created_at: state.clock.now(),
        };
        if let Err(e) = users.store().record(&summary, None).await {
            tracing::warn!(error = %e, "the import's summary was not audited");
        }
        let _ = tx.send(done).await;
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let v = rx.recv().await?;
        let mut line = v.to_string().into_bytes();
        line.push(b'\n');
        Some((Ok::<_, std::convert::Infallible>(line), rx))
    });
    let mut res = Body::from_stream(stream).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(res)
}

/// The body's lines from `from` on (numbered from 1), read as the chunks arrive; blank
/// lines are skipped but counted.
fn lines(chunks: axum::body::BodyDataStream, from: u64) -> impl futures_util::Stream<Item = Read> {
    struct St {
        chunks: axum::body::BodyDataStream,
        buf: Vec<u8>,
        n: u64,
        skipping: bool,
        ended: bool,
    }
    let st = St {
        chunks,
        buf: Vec::new(),
        n: 0,
        skipping: false,
        ended: false,
    };
    futures_util::stream::unfold(st, move |mut st| async move {
        loop {
            if let Some(pos) = st.buf.iter().position(|b| *b == b'\n') {
                let raw: Vec<u8> = st.buf.drain(..=pos).collect();
                if st.skipping {
                    st.skipping = false;
                    continue;
                }
                st.n += 1;
                if st.n < from {
                    continue;
                }
                let text = String::from_utf8_lossy(&raw[..raw.len() - 1])
                    .trim()
                    .to_string();
                if text.is_empty() {
                    continue;
                }
                return Some((Read::Line(st.n, text), st));
            }
            if st.buf.len() > LINE_MAX && !st.skipping {
                // Too long: reported, then skipped to its end.
                st.buf.clear();
                st.n += 1;
                st.skipping = true;
                if st.n >= from {
                    return Some((Read::TooLong(st.n), st));
                }
                continue;
            }
            if st.skipping {
                st.buf.clear();
            }
            if st.ended {
                if st.buf.is_empty() || st.skipping {
                    return None;
                }
                // A last line without its newline.
                st.buf.push(b'\n');
                continue;
            }
            match st.chunks.next().await {
                Some(Ok(chunk)) => st.buf.extend_from_slice(&chunk),
                // A body cut short ends the import where it is: `done` says the line.
                Some(Err(_)) | None => st.ended = true,
            }
        }
    })
}
