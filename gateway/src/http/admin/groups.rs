//! A pool's groups and their members. Membership is read from the store whenever a token is
//! issued or refreshed, so a change reaches the `groups` claim at the next refresh.

use accounts::store::GroupRecord;
use accounts::{AccountId, GroupChange};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Serialize;
use std::collections::HashMap;

use super::path_sub as member;
use super::{Admin, Page, admin_error, cut, invalid_cursor};
use crate::http::error::AppError;
use crate::http::extract::{AppJson, Pool};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/pools/{pool}/groups",
            get(list_groups).post(create_group),
        )
        .route(
            "/admin/v1/pools/{pool}/groups/{group}",
            get(get_group).patch(update_group).delete(delete_group),
        )
        .route(
            "/admin/v1/pools/{pool}/groups/{group}/members",
            get(list_members),
        )
        .route(
            "/admin/v1/pools/{pool}/groups/{group}/members/{sub}",
            put(add_member).delete(remove_member),
        )
}

#[derive(Debug, Serialize)]
struct GroupView {
    name: String,
    description: String,
    precedence: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<GroupRecord> for GroupView {
    fn from(g: GroupRecord) -> Self {
        GroupView {
            name: g.name,
            description: g.description,
            precedence: g.precedence,
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

#[derive(Debug, Serialize)]
struct GroupList {
    groups: Vec<GroupView>,
    next_cursor: Option<String>,
}

#[derive(Debug, Serialize)]
struct MemberList {
    members: Vec<AccountId>,
    next_cursor: Option<String>,
}

fn group(params: &HashMap<String, String>) -> &str {
    params.get("group").map_or("", String::as_str)
}

async fn list_groups(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Query(page): Query<Page>,
) -> Result<Json<GroupList>, AppError> {
    admin.read(&pool)?;
    let limit = page.limit(500)?;
    let after = page.cursor_text()?;
    let mut groups = state
        .users
        .list_groups(&pool, after.as_deref(), limit + 1)
        .await?;
    let next_cursor = cut(&mut groups, limit, |g| g.name.clone());
    Ok(Json(GroupList {
        groups: groups.into_iter().map(GroupView::from).collect(),
        next_cursor,
    }))
}

async fn create_group(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    AppJson(req): AppJson<GroupChange>,
) -> Result<(StatusCode, Json<GroupView>), AppError> {
    admin.write(&pool)?;
    let g = state
        .users
        .create_group(&pool, req, &admin.actor, state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(g.into())))
}

async fn get_group(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<GroupView>, AppError> {
    admin.read(&pool)?;
    let g = state.users.find_group(&pool, group(&params)).await?;
    Ok(Json(g.into()))
}

async fn update_group(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
    AppJson(req): AppJson<GroupChange>,
) -> Result<Json<GroupView>, AppError> {
    admin.write(&pool)?;
    let g = state
        .users
        .update_group(&pool, group(&params), req, &admin.actor, state.clock.now())
        .await?;
    Ok(Json(g.into()))
}

async fn delete_group(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
) -> Result<StatusCode, AppError> {
    admin.write(&pool)?;
    state
        .users
        .delete_group(&pool, group(&params), &admin.actor, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_members(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
    Query(page): Query<Page>,
) -> Result<Json<MemberList>, AppError> {
    admin.read(&pool)?;
    let limit = page.limit(500)?;
    let after = page
        .cursor_text()?
        .map(|c| AccountId::parse(&c).ok_or_else(invalid_cursor))
        .transpose()?;
    let mut members = state
        .users
        .list_group_members(&pool, group(&params), after, limit + 1)
        .await?;
    let next_cursor = cut(&mut members, limit, ToString::to_string);
    Ok(Json(MemberList {
        members,
        next_cursor,
    }))
}

/// Adds the account to the group (idempotent: a member stays one).
async fn add_member(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
) -> Result<StatusCode, AppError> {
    admin.write(&pool)?;
    state
        .users
        .add_group_member(
            &pool,
            group(&params),
            member(&params)?,
            &admin.actor,
            state.clock.now(),
        )
        .await
        .map_err(admin_error)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
) -> Result<StatusCode, AppError> {
    admin.write(&pool)?;
    state
        .users
        .remove_group_member(
            &pool,
            group(&params),
            member(&params)?,
            &admin.actor,
            state.clock.now(),
        )
        .await
        .map_err(admin_error)?;
    Ok(StatusCode::NO_CONTENT)
}
