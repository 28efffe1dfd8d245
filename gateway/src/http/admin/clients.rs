//! A pool's app clients: create (the secret of a confidential client shown once), list,
//! read, delete (their sessions end with them).

use accounts::clients::{ClientList, ClientRecord, ClientView, CreatedClient, NewClient};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use std::collections::HashMap;

use super::Admin;
use crate::http::error::AppError;
use crate::http::extract::{AppJson, Pool};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/pools/{pool}/clients",
            get(list_clients).post(create_client),
        )
        .route(
            "/admin/v1/pools/{pool}/clients/{client_id}",
            get(get_client).delete(delete_client),
        )
}

/// `{client_id, client_secret?, …}`: the secret (confidential clients) is shown once.
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
