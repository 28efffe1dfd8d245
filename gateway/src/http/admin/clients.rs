//! A pool's app clients: create (the secret of a confidential client shown once), list,
//! read, delete (their sessions end with them).

use accounts::clients::{ClientList, ClientRecord, ClientView, CreatedClient, NewClient};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use std::collections::HashMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Admin;
use crate::http::error::AppError;
use crate::http::extract::{AppJson, Pool};
use crate::http::openapi::Problem;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_clients, create_client))
        .routes(routes!(get_client, delete_client))
}

/// `{client_id, client_secret?, …}`: the secret (confidential clients) is shown once.
#[utoipa::path(post, path = "/admin/v1/pools/{pool}/clients", security(("admin" = [])), request_body = NewClient, responses(
    (status = 201, description = "The client, with its secret if it is confidential", body = CreatedClient),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
))]
async fn create_client(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    AppJson(req): AppJson<NewClient>,
) -> Result<(StatusCode, Json<CreatedClient>), AppError> {
    admin.write(&pool)?;
    let (client, secret) = state
        .users
        .create_client(&pool, req, &admin.actor, state.clock.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedClient {
            client: client.view(),
            client_secret: secret.map(|s| s.expose().to_string()),
        }),
    ))
}

/// The pool's app clients.
#[utoipa::path(get, path = "/admin/v1/pools/{pool}/clients", security(("admin" = [])), responses(
    (status = 200, description = "Every client of the pool", body = ClientList),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
))]
async fn list_clients(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
) -> Result<Json<ClientList>, AppError> {
    admin.read(&pool)?;
    let clients = state.users.list_clients(&pool).await?;
    Ok(Json(ClientList {
        clients: clients.iter().map(ClientRecord::view).collect(),
    }))
}

fn client_id(params: &HashMap<String, String>) -> &str {
    params.get("client_id").map_or("", String::as_str)
}

/// One client, never its secret.
#[utoipa::path(get, path = "/admin/v1/pools/{pool}/clients/{client_id}", security(("admin" = [])),
    params(("client_id" = String, Path, description = "The client's id")),
    responses(
        (status = 200, description = "The client", body = ClientView),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
    ))]
async fn get_client(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<ClientView>, AppError> {
    admin.read(&pool)?;
    let client = state.users.find_client(&pool, client_id(&params)).await?;
    Ok(Json(client.view()))
}

/// Deletes the client; its sessions end with it.
#[utoipa::path(delete, path = "/admin/v1/pools/{pool}/clients/{client_id}", security(("admin" = [])),
    params(("client_id" = String, Path, description = "The client's id")),
    responses(
        (status = 204, description = "The client is gone"),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
    ))]
async fn delete_client(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
) -> Result<StatusCode, AppError> {
    admin.write(&pool)?;
    state
        .users
        .delete_client(&pool, client_id(&params), &admin.actor, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
