//! A pool's signing keys: listed, rotated (new keys published now, signing later), and
//! revoked in an emergency (a key that leaked leaves the JWKS at once; a live one is
//! replaced by a key that signs now).

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Admin;
use crate::http::error::{AppError, Code};
use crate::http::extract::{AppJson, Pool};
use crate::http::openapi::Problem;
use crate::keys::DEFAULT_ACTIVATION_DELAY;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys))
        .routes(routes!(rotate_keys))
        .routes(routes!(revoke_key))
}

/// A signing key, without its private part.
#[derive(Serialize, ToSchema)]
struct KeyView {
    kid: String,
    alg: String,
    created_at: i64,
    /// When it starts signing (it is published before).
    activates_at: i64,
    /// When it leaves the JWKS; none while it is the live key.
    retires_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
struct KeyList {
    keys: Vec<KeyView>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
struct Rotation {
    /// Seconds before the new keys sign (default 600, longer than the JWKS cache time).
    activate_in: Option<i64>,
}

async fn keys_of(
    state: &AppState,
    pool: &accounts::store::PoolRecord,
) -> Result<KeyList, AppError> {
    let keys = state.store.list_signing_keys(pool.id).await?;
    Ok(KeyList {
        keys: keys
            .into_iter()
            .map(|k| KeyView {
                kid: k.kid,
                alg: k.alg,
                created_at: k.created_at,
                activates_at: k.activates_at,
                retires_at: k.retires_at,
            })
            .collect(),
    })
}

/// The pool's signing keys (public facts only).
#[utoipa::path(get, path = "/admin/v1/pools/{pool}/keys", security(("admin" = [])), responses(
    (status = 200, description = "The keys", body = KeyList),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
))]
async fn list_keys(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
) -> Result<Json<KeyList>, AppError> {
    admin.read(&pool)?;
    Ok(Json(keys_of(&state, &pool).await?))
}

/// Publishes new ES256 and RS256 keys now; they sign after `activate_in` seconds, and the
/// old ones stay in the JWKS until every token they signed has expired.
#[utoipa::path(post, path = "/admin/v1/pools/{pool}/keys/rotate", security(("admin" = [])), request_body = Rotation, responses(
    (status = 200, description = "The keys after the rotation", body = KeyList),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
))]
async fn rotate_keys(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    AppJson(req): AppJson<Rotation>,
) -> Result<Json<KeyList>, AppError> {
    admin.write(&pool)?;
    let delay = req.activate_in.unwrap_or(DEFAULT_ACTIVATION_DELAY);
    state.keys.rotate(&pool, delay, state.clock.now()).await?;
    Ok(Json(keys_of(&state, &pool).await?))
}

/// Revokes a key at once: it leaves the JWKS, the tokens it signed are refused on this
/// instance now and on every other within 30 seconds, and a live key is replaced by one
/// that signs from now (refresh re-issues tokens under it). Audited.
#[utoipa::path(post, path = "/admin/v1/pools/{pool}/keys/{kid}/revoke", security(("admin" = [])), params(("kid" = String, Path)), responses(
    (status = 200, description = "The keys after the revocation", body = KeyList),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
))]
async fn revoke_key(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<KeyList>, AppError> {
    admin.write(&pool)?;
    let kid = params.get("kid").map(String::as_str).unwrap_or_default();
    let actor = serde_json::to_value(&admin.actor).map_err(|_| accounts::Error::Crypto)?;
    if !state
        .keys
        .revoke(&pool, kid, &actor, state.clock.now())
        .await?
    {
        return Err(AppError::refused(
            Code::NotFound,
            "the pool has no such live key",
        ));
    }
    Ok(Json(keys_of(&state, &pool).await?))
}
