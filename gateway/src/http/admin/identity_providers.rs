//! A pool's upstream identity providers (DESIGN, Federation): `oidc` and `oauth2`, by hand
//! or from a preset (`google`, `microsoft`, `apple`, `github`). Secrets (`client_secret`,
//! `private_key`) are taken, sealed with the master key, and never shown again: a view says
//! only which are set.

use accounts::IdpView;
use accounts::store::{IdpRecord, PoolRecord};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Admin;
use crate::flows::federation::redirect_uri;
use crate::http::error::AppError;
use crate::http::extract::{AppJson, Pool};
use crate::http::openapi::Problem;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_idps, create_idp))
        .routes(routes!(get_idp, update_idp, delete_idp))
}

#[derive(Debug, Serialize, ToSchema)]
struct IdpList {
    identity_providers: Vec<IdpView>,
}

fn view(state: &AppState, pool: &PoolRecord, idp: IdpRecord) -> Result<IdpView, AppError> {
    let uri = redirect_uri(state, pool, &idp.name);
    Ok(state.users.idp_view(idp, uri)?)
}

fn idp_name(params: &HashMap<String, String>) -> &str {
    params.get("idp").map_or("", String::as_str)
}

/// The pool's IdPs, by name.
#[utoipa::path(get, path = "/admin/v1/pools/{pool}/identity-providers", security(("admin" = [])), responses(
    (status = 200, body = IdpList),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
))]
async fn list_idps(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
) -> Result<Json<IdpList>, AppError> {
    admin.read(&pool)?;
    let identity_providers = state
        .users
        .identity_providers(&pool)
        .await?
        .into_iter()
        .map(|i| view(&state, &pool, i))
        .collect::<Result<_, _>>()?;
    Ok(Json(IdpList { identity_providers }))
}

/// Adds an IdP: `name`, then a `preset` and what it lacks (`client_id`, `client_secret`;
/// Apple: `team_id`, `key_id`, `private_key`), or every field of an `oidc` or `oauth2` IdP.
#[utoipa::path(post, path = "/admin/v1/pools/{pool}/identity-providers", security(("admin" = [])),
    request_body(content = Object, description = "`name`, the configuration's fields, `client_secret` and/or `private_key`"),
    responses(
        (status = 201, body = IdpView),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 409, response = Problem),
    ))]
async fn create_idp(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    AppJson(input): AppJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<IdpView>), AppError> {
    admin.write(&pool)?;
    let idp = state
        .users
        .create_idp(&pool, input, &admin.actor, state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(view(&state, &pool, idp)?)))
}

/// One IdP.
#[utoipa::path(get, path = "/admin/v1/pools/{pool}/identity-providers/{idp}", security(("admin" = [])),
    params(("idp" = String, Path, description = "The IdP's name")),
    responses(
        (status = 200, body = IdpView),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
    ))]
async fn get_idp(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<IdpView>, AppError> {
    admin.read(&pool)?;
    let idp = state
        .users
        .identity_provider(&pool, idp_name(&params))
        .await?;
    Ok(Json(view(&state, &pool, idp)?))
}

/// Changes an IdP: a JSON merge patch (RFC 7396) of its configuration; secrets given
/// replace the sealed ones.
#[utoipa::path(patch, path = "/admin/v1/pools/{pool}/identity-providers/{idp}", security(("admin" = [])),
    params(("idp" = String, Path, description = "The IdP's name")),
    request_body(content = Object, description = "Fields to change (`null` removes one), secrets to replace"),
    responses(
        (status = 200, body = IdpView),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
    ))]
async fn update_idp(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
    AppJson(patch): AppJson<Map<String, Value>>,
) -> Result<Json<IdpView>, AppError> {
    admin.write(&pool)?;
    let idp = state
        .users
        .update_idp(
            &pool,
            idp_name(&params),
            patch,
            &admin.actor,
            state.clock.now(),
        )
        .await?;
    Ok(Json(view(&state, &pool, idp)?))
}

/// Deletes an IdP no account signs in with (409 `idp_in_use` otherwise: disable it with
/// `enabled: false`, or unlink those identities first).
#[utoipa::path(delete, path = "/admin/v1/pools/{pool}/identity-providers/{idp}", security(("admin" = [])),
    params(("idp" = String, Path, description = "The IdP's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
        (status = 409, response = Problem),
    ))]
async fn delete_idp(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
) -> Result<StatusCode, AppError> {
    admin.write(&pool)?;
    state
        .users
        .delete_idp(&pool, idp_name(&params), &admin.actor, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
