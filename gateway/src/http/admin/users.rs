//! A pool's users: search (email prefix, wallet in any form, status, creation time; keyset
//! pages by creation), create (an invitation mail, or a wallet-only account), read with
//! sessions, change attributes, status and email verification, delete, sign out
//! everywhere, mail a recovery code, clear second factors.

use accounts::store::{AccountCursor, AccountFilter};
use accounts::{AccountId, AccountStatus, AccountView, Email, NewUser, SessionView, UserPatch};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::path_sub as sub;
use super::{Admin, Page, admin_error, cut, invalid_cursor};
use crate::http::error::{AppError, Code};
use crate::http::extract::{AppJson, Pool};
use crate::http::response::StatusResponse;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/pools/{pool}/users",
            get(search_users).post(create_user),
        )
        .route(
            "/admin/v1/pools/{pool}/users/{sub}",
            get(get_user).patch(patch_user).delete(delete_user),
        )
        .route(
            "/admin/v1/pools/{pool}/users/{sub}/sign-out",
            post(sign_out),
        )
        .route(
            "/admin/v1/pools/{pool}/users/{sub}/reset-password",
            post(reset_password),
        )
        .route("/admin/v1/pools/{pool}/users/{sub}/mfa", delete(clear_mfa))
}

/// `?email=&wallet=&status=&created_since=&created_before=&cursor=&limit=`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Search {
    /// A prefix of the address (compared normalised).
    email: Option<String>,
    /// A CAIP-10 id in any form, or a bare address: accounts with it on any chain.
    wallet: Option<String>,
    status: Option<AccountStatus>,
    created_since: Option<i64>,
    created_before: Option<i64>,
    cursor: Option<String>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
struct UserList {
    users: Vec<AccountView>,
    next_cursor: Option<String>,
}

/// An account with its live sessions.
#[derive(Debug, Serialize)]
struct UserDetail {
    #[serde(flatten)]
    account: AccountView,
    sessions: Vec<SessionView>,
}

#[derive(Debug, Serialize)]
struct Revoked {
    revoked: u64,
}

#[derive(Debug, Serialize)]
struct Removed {
    removed: u64,
}

async fn search_users(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Query(q): Query<Search>,
) -> Result<Json<UserList>, AppError> {
    admin.read(&pool)?;
    let page = Page {
        cursor: q.cursor,
        limit: q.limit,
    };
    let limit = page.limit(500)?;
    let after = page
        .cursor_text()?
        .map(|c| {
            let (time, id) = c.split_once('.').ok_or_else(invalid_cursor)?;
            Ok::<_, AppError>(AccountCursor {
                created_at: time.parse().map_err(|_| invalid_cursor())?,
                id: AccountId::parse(id).ok_or_else(invalid_cursor)?,
            })
        })
        .transpose()?;
    let wallet_key = q
        .wallet
        .as_deref()
        .map(|w| {
            accounts::parse_wallet(w)
                .map(|c| c.address.key())
                .map_err(|_| {
                    AppError::refused(Code::InvalidQuery, "wallet: not a CAIP-10 id or an address")
                })
        })
        .transpose()?;
    let filter = AccountFilter {
        email_prefix: q
            .email
            .as_deref()
            .map(Email::search_prefix)
            .filter(|p| !p.is_empty()),
        wallet_key,
        status: q.status,
        created_since: q.created_since,
        created_before: q.created_before,
    };
    let mut users = state
        .users
        .search_users(&pool, &filter, after, limit + 1)
        .await?;
    let next_cursor = cut(&mut users, limit, |u| format!("{}.{}", u.created_at, u.sub));
    Ok(Json(UserList { users, next_cursor }))
}

async fn create_user(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    AppJson(req): AppJson<NewUser>,
) -> Result<(StatusCode, Json<AccountView>), AppError> {
    admin.write(&pool)?;
    let user = state
        .users
        .create_user(&pool, req, &admin.actor, state.clock.now())
        .await?;
    state.mail.wake();
    Ok((StatusCode::CREATED, Json(user)))
}

async fn get_user(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<UserDetail>, AppError> {
    admin.read(&pool)?;
    let (account, sessions) = state
        .users
        .user_with_sessions(&pool, sub(&params)?, state.clock.now())
        .await
        .map_err(admin_error)?;
    let sessions = sessions.iter().map(|s| SessionView::of(s, None)).collect();
    Ok(Json(UserDetail { account, sessions }))
}

async fn patch_user(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
    AppJson(patch): AppJson<UserPatch>,
) -> Result<Json<AccountView>, AppError> {
    admin.write(&pool)?;
    let user = state
        .users
        .patch_user(&pool, sub(&params)?, patch, &admin.actor, state.clock.now())
        .await
        .map_err(admin_error)?;
    Ok(Json(user))
}

async fn delete_user(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
) -> Result<StatusCode, AppError> {
    admin.write(&pool)?;
    state
        .users
        .delete_user(&pool, sub(&params)?, &admin.actor, state.clock.now())
        .await
        .map_err(admin_error)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn sign_out(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<Revoked>, AppError> {
    admin.write(&pool)?;
    let revoked = state
        .users
        .sign_out_user(&pool, sub(&params)?, &admin.actor, state.clock.now())
        .await
        .map_err(admin_error)?;
    Ok(Json(Revoked { revoked }))
}

async fn reset_password(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
) -> Result<(StatusCode, Json<StatusResponse>), AppError> {
    admin.write(&pool)?;
    state
        .users
        .reset_user_password(&pool, sub(&params)?, &admin.actor, state.clock.now())
        .await
        .map_err(admin_error)?;
    state.mail.wake();
    Ok((
        StatusCode::ACCEPTED,
        Json(StatusResponse::with_detail(
            "code_sent",
            "a recovery code was mailed to the account's address",
        )),
    ))
}

async fn clear_mfa(
    State(state): State<AppState>,
    admin: Admin,
    Pool(pool): Pool,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Json<Removed>, AppError> {
    admin.write(&pool)?;
    let removed = state
        .users
        .clear_user_mfa(&pool, sub(&params)?, &admin.actor, state.clock.now())
        .await
        .map_err(admin_error)?;
    Ok(Json(Removed { removed }))
}
