//! The operators' API under `/admin/v1`, guarded by `GATEHOUSE_ADMIN_TOKEN` (a bearer token
//! compared in constant time). Today: a pool's app clients.

use accounts::clients::{ClientList, ClientRecord, ClientView, CreatedClient, NewClient};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use std::collections::HashMap;

use super::error::{AppError, Code};
use super::extract::{AppJson, Pool};
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

/// A request carrying the admin token.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Some(expected) = &state.config.admin_token else {
            return Err(AppError::refused(
                Code::AdminDisabled,
                "the admin API is off: set GATEHOUSE_ADMIN_TOKEN",
            ));
        };
        let given = super::extract::bearer_token(&parts.headers).unwrap_or_default();
        let same = aws_lc_rs::constant_time::verify_slices_are_equal(
            given.as_bytes(),
            expected.expose().as_bytes(),
        )
        .is_ok();
        if same && !given.is_empty() {
            Ok(Admin)
        } else {
            Err(AppError::Unauthorized)
        }
    }
}

/// `{client_id, client_secret?, …}`: the secret (confidential clients) is shown once.
async fn create_client(
    State(state): State<AppState>,
    _: Admin,
    Pool(pool): Pool,
    AppJson(req): AppJson<NewClient>,
) -> Result<(StatusCode, Json<CreatedClient>), AppError> {
    let (client, secret) = state
        .users
        .create_client(&pool, req, state.clock.now())
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
    _: Admin,
    Pool(pool): Pool,
) -> Result<Json<ClientList>, AppError> {
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
    _: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<ClientView>, AppError> {
    let client = state.users.find_client(&pool, client_id(&params)).await?;
    Ok(Json(client.view()))
}

/// Deletes the client; its sessions end with it.
async fn delete_client(
    State(state): State<AppState>,
    _: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
) -> Result<StatusCode, AppError> {
    state
        .users
        .delete_client(&pool, client_id(&params), state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
