//! A pool's hooks (DESIGN, Hooks): one per trigger point, an HTTPS endpoint called with a
//! Standard Webhooks signature. The signing secret is shown once, when the hook is created
//! and when it is rotated (the previous one keeps signing for the overlap).

use accounts::HookView;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Admin;
use crate::http::code::Code;
use crate::http::error::AppError;
use crate::http::extract::{AppJson, Pool};
use crate::http::openapi::Problem;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_hooks, create_hook))
        .routes(routes!(get_hook, update_hook, delete_hook))
        .routes(routes!(rotate_secret))
}

#[derive(Debug, Serialize, ToSchema)]
struct HookList {
    hooks: Vec<HookView>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    /// Seconds the previous secret keeps signing beside the new one (default 86400, at
    /// most 604800; 0 ends it now).
    #[serde(default)]
    overlap_seconds: Option<i64>,
}

fn hook_name(params: &HashMap<String, String>) -> &str {
    params.get("hook").map_or("", String::as_str)
}

/// The pool's hooks, by name.
#[utoipa::path(get, path = "/admin/v1/pools/{pool}/hooks", security(("admin" = [])), responses(
    (status = 200, body = HookList),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
))]
async fn list_hooks(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
) -> Result<Json<HookList>, AppError> {
    admin.read(&pool)?;
    let hooks = state.users.hooks(&pool).await?;
    Ok(Json(HookList { hooks }))
}

/// Adds a hook: `name`, `trigger`, `url`, and optionally `timeout_ms`, `failure_policy`,
/// `clients`, `methods`, `enabled`. The answer holds the signing `secret`, once.
#[utoipa::path(post, path = "/admin/v1/pools/{pool}/hooks", security(("admin" = [])),
    request_body(content = Object, description = "`name` and the hook's configuration"),
    responses(
        (status = 201, body = HookView),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 409, response = Problem),
    ))]
async fn create_hook(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    AppJson(input): AppJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<HookView>), AppError> {
    admin.write(&pool)?;
    let hook = state
        .users
        .create_hook(&pool, input, &admin.actor, state.clock.now())
        .await?;
    state.hooks.forget(pool.id);
    Ok((StatusCode::CREATED, Json(hook)))
}

/// One hook (without its secret).
#[utoipa::path(get, path = "/admin/v1/pools/{pool}/hooks/{hook}", security(("admin" = [])),
    params(("hook" = String, Path, description = "The hook's name")),
    responses(
        (status = 200, body = HookView),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
    ))]
async fn get_hook(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<HookView>, AppError> {
    admin.read(&pool)?;
    Ok(Json(state.users.hook(&pool, hook_name(&params)).await?))
}

/// Changes a hook: a JSON merge patch (RFC 7396) of its configuration.
#[utoipa::path(patch, path = "/admin/v1/pools/{pool}/hooks/{hook}", security(("admin" = [])),
    params(("hook" = String, Path, description = "The hook's name")),
    request_body(content = Object, description = "Fields to change (`null` restores a default)"),
    responses(
        (status = 200, body = HookView),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
        (status = 409, response = Problem),
    ))]
async fn update_hook(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
    AppJson(patch): AppJson<Map<String, Value>>,
) -> Result<Json<HookView>, AppError> {
    admin.write(&pool)?;
    let now = state.clock.now();
    let hook = state
        .users
        .update_hook(&pool, hook_name(&params), patch, &admin.actor, now)
        .await?;
    state.hooks.forget(pool.id);
    Ok(Json(hook))
}

/// A new signing secret, shown once; the previous one signs too until the overlap ends,
/// so receivers can move to the new one without missing a call.
#[utoipa::path(post, path = "/admin/v1/pools/{pool}/hooks/{hook}/rotate-secret", security(("admin" = [])),
    params(("hook" = String, Path, description = "The hook's name")),
    request_body(content = RotateRequest, description = "The overlap (optional)"),
    responses(
        (status = 200, body = HookView),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
    ))]
async fn rotate_secret(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Result<Json<HookView>, AppError> {
    admin.write(&pool)?;
    // The body is optional: none keeps the default overlap.
    let request: RotateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RotateRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AppError::refused(Code::InvalidJson, e.to_string()))?
    };
    let overlap = request.overlap_seconds;
    let now = state.clock.now();
    let hook = state
        .users
        .rotate_hook_secret(&pool, hook_name(&params), overlap, &admin.actor, now)
        .await?;
    state.hooks.forget(pool.id);
    Ok(Json(hook))
}

/// Deletes a hook; notifications still queued for it are dropped.
#[utoipa::path(delete, path = "/admin/v1/pools/{pool}/hooks/{hook}", security(("admin" = [])),
    params(("hook" = String, Path, description = "The hook's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
    ))]
async fn delete_hook(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
) -> Result<StatusCode, AppError> {
    admin.write(&pool)?;
    state
        .users
        .delete_hook(&pool, hook_name(&params), &admin.actor, state.clock.now())
        .await?;
    state.hooks.forget(pool.id);
    Ok(StatusCode::NO_CONTENT)
}
