//! Pools: list and create (root token only), read, update by JSON merge patch under
//! `ETag` / `If-Match` (RFC 9110 §13.1.1: a stale version answers 412, never a lost
//! write), delete (refused while accounts remain unless `?force=true`).

use accounts::store::PoolRecord;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, Page, cut};
use crate::http::error::{AppError, Code};
use crate::http::extract::{AppJson, Pool};
use crate::http::openapi::Problem;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_pools, create_pool))
        .routes(routes!(get_pool, update_pool, delete_pool))
}

/// A pool as the admin API shows it.
#[derive(Debug, Serialize, ToSchema)]
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

#[derive(Debug, Serialize, ToSchema)]
pub struct PoolList {
    pub pools: Vec<PoolView>,
    /// Where the next page starts; none on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPool {
    /// 1 to 63 of `a-z`, `0-9`, `_` and `-`, starting with a letter or digit.
    pub name: String,
    /// A partial configuration (the fields of `PoolConfig`); what it leaves out takes its
    /// default.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
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

/// Every pool, by name (the root token only).
#[utoipa::path(get, path = "/admin/v1/pools", security(("admin" = [])), params(Page), responses(
    (status = 200, description = "A page of pools", body = PoolList),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
))]
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

/// Creates a pool and its signing keys (the root token only).
#[utoipa::path(post, path = "/admin/v1/pools", security(("admin" = [])), request_body = NewPool, responses(
    (status = 201, description = "The new pool", body = PoolView,
        headers(("ETag" = String, description = "The pool's version, for `If-Match`"))),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 409, response = Problem),
))]
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

/// The pool and its whole configuration, as stored now.
#[utoipa::path(get, path = "/admin/v1/pools/{pool}", security(("admin" = [])), responses(
    (status = 200, description = "The pool", body = PoolView,
        headers(("ETag" = String, description = "The pool's version, for `If-Match`"))),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
))]
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

/// Configuration fields an admin client may not change.
const ROOT_ONLY_FIELDS: [&str; 2] = ["storage_roles", "audit_retention_days"];

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

/// Changes the configuration by JSON merge patch (RFC 7396), on the version `If-Match`
/// names.
#[utoipa::path(patch, path = "/admin/v1/pools/{pool}", security(("admin" = [])),
    params(("If-Match" = Option<String>, Header, description = "The `ETag` the change is made on (`\"3\"`); `*` or none: any")),
    request_body(content = Object, description = "A JSON merge patch of the configuration (the fields of `PoolConfig`; `null` gives one its default)"),
    responses(
        (status = 200, description = "The pool as changed", body = PoolView,
            headers(("ETag" = String, description = "The pool's new version"))),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
        (status = 412, response = Problem),
    ))]
async fn update_pool(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    headers: HeaderMap,
    AppJson(patch): AppJson<Value>,
) -> Result<Response, AppError> {
    admin.write(&pool)?;
    // What reaches beyond the pool's own accounts stays with the root token: storage roles
    // name key prefixes in a bucket every pool shares, and the audit retention decides how
    // long the record of an admin client's own actions lives.
    if !admin.is_root() && ROOT_ONLY_FIELDS.iter().any(|f| patch.get(*f).is_some()) {
        return Err(AppError::refused(
            Code::AdminForbidden,
            format!(
                "{} are changed with the root admin token only",
                ROOT_ONLY_FIELDS.join(" and ")
            ),
        ));
    }
    let expected = if_match(&headers)?;
    let updated = state
        .users
        .update_pool(pool.id, &patch, expected, &admin.actor, state.clock.now())
        .await?;
    state.pools.forget(&pool.name);
    Ok(with_etag(&state, StatusCode::OK, &updated))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DeleteQuery {
    /// Delete the pool even while accounts remain (they go with it).
    #[serde(default)]
    force: bool,
}

/// Deletes the pool (the root token only); refused while accounts remain unless `force`.
#[utoipa::path(delete, path = "/admin/v1/pools/{pool}", security(("admin" = [])), params(DeleteQuery), responses(
    (status = 204, description = "The pool is gone"),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
    (status = 409, response = Problem),
))]
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
