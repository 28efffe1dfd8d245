//! A pool's groups and their members. Membership is read from the store whenever a token is
//! issued or refreshed, so a change reaches the `groups` claim at the next refresh.

use accounts::store::GroupRecord;
use accounts::{AccountId, GroupChange};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::path_sub as member;
use super::{Admin, Page, admin_error, cut, invalid_cursor};
use crate::http::error::AppError;
use crate::http::extract::{AppJson, Pool};
use crate::http::openapi::Problem;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_groups, create_group))
        .routes(routes!(get_group, update_group, delete_group))
        .routes(routes!(list_members))
        .routes(routes!(add_member, remove_member))
}

#[derive(Debug, Serialize, ToSchema)]
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

#[derive(Debug, Serialize, ToSchema)]
struct GroupList {
    groups: Vec<GroupView>,
    next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
struct MemberList {
    members: Vec<AccountId>,
    next_cursor: Option<String>,
}

fn group(params: &HashMap<String, String>) -> &str {
    params.get("group").map_or("", String::as_str)
}

/// The pool's groups, by name.
#[utoipa::path(get, path = "/admin/v1/pools/{pool}/groups", security(("admin" = [])), params(Page), responses(
    (status = 200, description = "A page of groups", body = GroupList),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
))]
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

/// Creates a group (`name` required).
#[utoipa::path(post, path = "/admin/v1/pools/{pool}/groups", security(("admin" = [])), request_body = GroupChange, responses(
    (status = 201, description = "The new group", body = GroupView),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 409, response = Problem),
))]
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

/// One group.
#[utoipa::path(get, path = "/admin/v1/pools/{pool}/groups/{group}", security(("admin" = [])), params(("group" = String, Path, description = "The group's name")), responses(
    (status = 200, description = "The group", body = GroupView),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
))]
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

/// Changes the description or the precedence (the name stays).
#[utoipa::path(patch, path = "/admin/v1/pools/{pool}/groups/{group}", security(("admin" = [])), params(("group" = String, Path, description = "The group's name")), request_body = GroupChange, responses(
    (status = 200, description = "The group as changed", body = GroupView),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
))]
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

/// Deletes the group; its members leave it.
#[utoipa::path(delete, path = "/admin/v1/pools/{pool}/groups/{group}", security(("admin" = [])), params(("group" = String, Path, description = "The group's name")), responses(
    (status = 204, description = "The group is gone"),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
))]
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

/// The group's members, by `sub`.
#[utoipa::path(get, path = "/admin/v1/pools/{pool}/groups/{group}/members", security(("admin" = [])), params(("group" = String, Path, description = "The group's name"), Page), responses(
    (status = 200, description = "A page of members", body = MemberList),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
))]
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
#[utoipa::path(put, path = "/admin/v1/pools/{pool}/groups/{group}/members/{sub}", security(("admin" = [])), params(("group" = String, Path, description = "The group's name"), ("sub" = String, Path, format = "uuid", description = "The account's `sub`")), responses(
    (status = 204, description = "The account is a member"),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
))]
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

/// Removes the account from the group.
#[utoipa::path(delete, path = "/admin/v1/pools/{pool}/groups/{group}/members/{sub}", security(("admin" = [])), params(("group" = String, Path, description = "The group's name"), ("sub" = String, Path, format = "uuid", description = "The account's `sub`")), responses(
    (status = 204, description = "The account is no member"),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
))]
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
