//! Pools: list and create (root token only), read, update by JSON merge patch under
//! `ETag` / `If-Match` (RFC 9110 §13.1.1: a stale version answers 412, never a lost
//! write), delete (refused while accounts remain unless `?force=true`).

use accounts::store::PoolRecord;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Admin, Page, cut};
use crate::http::error::{AppError, Code};
use crate::http::extract::{AppJson, Pool};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/pools", get(list_pools).post(create_pool))
        .route(
            "/admin/v1/pools/{pool}",
            get(get_pool).patch(update_pool).delete(delete_pool),
        )
}

/// A pool as the admin API shows it.
#[derive(Debug, Serialize)]
pub struct PoolView {
    pub name: String,
    /// Its OIDC issuer (discovery and JWKS live under it).
    pub issuer: String,
    pub config: accounts::policy::PoolConfig,
    /// What `ETag` carries; `If-Match` names it.
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl PoolView {
    fn of(state: &AppState, p: &PoolRecord) -> Self {
        PoolView {
            name: p.name.clone(),
            issuer: state.config.issuer(&p.name),
            config: p.config.clone(),
            version: p.version,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PoolList {
    pub pools: Vec<PoolView>,
    /// Where the next page starts; none on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPool {
    pub name: String,
    /// A partial configuration; what it leaves out takes its default.
    #[serde(default)]
    pub config: Option<Value>,
}

/// The pool with its version as a strong `ETag`.
fn with_etag(state: &AppState, status: StatusCode, p: &PoolRecord) -> Response {
    let mut res = (status, Json(PoolView::of(state, p))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", p.version)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

async fn list_pools(
    State(state): State<AppState>,
    admin: Admin,
    Query(page): Query<Page>,
) -> Result<Json<PoolList>, AppError> {
    admin.root()?;
    let limit = page.limit(200)?;
    let after = page.cursor_text()?;
    let mut pools = state.users.list_pools(after.as_deref(), limit + 1).await?;
    let next_cursor = cut(&mut pools, limit, |p| p.name.clone());
    let pools = pools.iter().map(|p| PoolView::of(&state, p)).collect();
    Ok(Json(PoolList { pools, next_cursor }))
}

async fn create_pool(
    State(state): State<AppState>,
    admin: Admin,
    AppJson(req): AppJson<NewPool>,
) -> Result<Response, AppError> {
    admin.root()?;
    let now = state.clock.now();
    let pool = state
        .users
        .create_pool(&req.name, req.config, &admin.actor, now)
        .await?;
    // Its keys exist before its first token (and are in its JWKS at once).
    state.keys.ensure(&pool, now).await?;
    Ok(with_etag(&state, StatusCode::CREATED, &pool))
}

async fn get_pool(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
) -> Result<Response, AppError> {
    admin.read(&pool)?;
    // As stored now, not as the cache holds it: the ETag must be current.
    let fresh = state.users.fresh_pool(pool.id).await?;
    Ok(with_etag(&state, StatusCode::OK, &fresh))
}

/// `If-Match: "3"` (or `*`, or none: the version the merge is made on).
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, AppError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let v = v.to_str().unwrap_or_default().trim();
    if v == "*" {
        return Ok(None);
    }
    // A weak tag never matches (RFC 9110 §13.1.1: If-Match uses the strong comparison).
    v.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            AppError::refused(
                Code::VersionMismatch,
                "If-Match names no current version of this pool",
            )
        })
}

async fn update_pool(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    headers: HeaderMap,
    AppJson(patch): AppJson<Value>,
) -> Result<Response, AppError> {
    admin.write(&pool)?;
    let expected = if_match(&headers)?;
    let updated = state
        .users
        .update_pool(pool.id, &patch, expected, &admin.actor, state.clock.now())
        .await?;
    state.pools.forget(&pool.name);
    Ok(with_etag(&state, StatusCode::OK, &updated))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteQuery {
    #[serde(default)]
    force: bool,
}

async fn delete_pool(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Query(q): Query<DeleteQuery>,
) -> Result<StatusCode, AppError> {
    // A pool's own admin client may not delete the pool it lives in.
    admin.root()?;
    state
        .users
        .delete_pool(&pool, q.force, &admin.actor, state.clock.now())
        .await?;
    state.pools.forget(&pool.name);
    Ok(StatusCode::NO_CONTENT)
}
