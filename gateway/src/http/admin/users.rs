//! A pool's users: search (email prefix, wallet in any form, status, creation time; keyset
//! pages by creation), create (an invitation mail, or a wallet-only account), read with
//! sessions, change attributes, status and email verification, delete, sign out
//! everywhere, mail a recovery code, clear second factors.

use accounts::store::{AccountCursor, AccountFilter};
use accounts::{AccountId, AccountStatus, AccountView, Email, NewUser, SessionView, UserPatch};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::path_sub as sub;
use super::{Admin, Page, admin_error, cut, invalid_cursor};
use crate::http::error::{AppError, Code};
use crate::http::extract::{AppJson, Pool};
use crate::http::openapi::Problem;
use crate::http::response::StatusResponse;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_users, create_user))
        .routes(routes!(get_user, patch_user, delete_user))
        .routes(routes!(sign_out))
        .routes(routes!(reset_password))
        .routes(routes!(clear_mfa))
}

/// `?email=&wallet=&status=&created_since=&created_before=&cursor=&limit=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Search {
    /// A prefix of the address (compared normalised).
    email: Option<String>,
    /// A CAIP-10 id in any form, or a bare address: accounts with it on any chain.
    wallet: Option<String>,
    status: Option<AccountStatus>,
    /// Created at or after (Unix seconds).
    created_since: Option<i64>,
    /// Created before (Unix seconds).
    created_before: Option<i64>,
    /// Where the page starts: the `next_cursor` of the page before.
    cursor: Option<String>,
    /// How many, at most (1 to 500, default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
struct UserList {
    users: Vec<AccountView>,
    next_cursor: Option<String>,
}

/// An account with its live sessions.
#[derive(Debug, Serialize, ToSchema)]
struct UserDetail {
    #[serde(flatten)]
    account: AccountView,
    sessions: Vec<SessionView>,
}

/// How many sessions a sign-out ended.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SignedOut)]
struct Revoked {
    revoked: u64,
}

/// How many second factors were removed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MfaCleared)]
struct Removed {
    removed: u64,
}

/// Accounts of the pool: by email prefix, wallet (any chain), status and creation time,
/// oldest first in keyset pages.
#[utoipa::path(get, path = "/admin/v1/pools/{pool}/users", security(("admin" = [])), params(Search), responses(
    (status = 200, description = "A page of accounts", body = UserList),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
))]
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

/// Creates an account: an invitation mailed with a code, or a wallet-only account.
#[utoipa::path(post, path = "/admin/v1/pools/{pool}/users", security(("admin" = [])), request_body = NewUser, responses(
    (status = 201, description = "The new account", body = AccountView),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 409, response = Problem),
))]
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

/// The account with its credentials and live sessions.
#[utoipa::path(get, path = "/admin/v1/pools/{pool}/users/{sub}", security(("admin" = [])), params(("sub" = String, Path, format = "uuid", description = "The account's `sub`")), responses(
    (status = 200, description = "The account", body = UserDetail),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
))]
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

/// Changes attributes, status (`disabled` ends every session) or email verification.
#[utoipa::path(patch, path = "/admin/v1/pools/{pool}/users/{sub}", security(("admin" = [])), params(("sub" = String, Path, format = "uuid", description = "The account's `sub`")), request_body = UserPatch, responses(
    (status = 200, description = "The account as changed", body = AccountView),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
))]
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

/// Deletes the account and everything that hangs off it (audited).
#[utoipa::path(delete, path = "/admin/v1/pools/{pool}/users/{sub}", security(("admin" = [])), params(("sub" = String, Path, format = "uuid", description = "The account's `sub`")), responses(
    (status = 204, description = "The account is gone"),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
))]
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

/// Ends every session of the account.
#[utoipa::path(post, path = "/admin/v1/pools/{pool}/users/{sub}/sign-out", security(("admin" = [])), params(("sub" = String, Path, format = "uuid", description = "The account's `sub`")), responses(
    (status = 200, description = "How many sessions ended", body = Revoked),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
))]
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

/// Mails the account a recovery code.
#[utoipa::path(post, path = "/admin/v1/pools/{pool}/users/{sub}/reset-password", security(("admin" = [])), params(("sub" = String, Path, format = "uuid", description = "The account's `sub`")), responses(
    (status = 202, description = "A recovery code was mailed", body = StatusResponse),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
))]
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

/// Removes every second factor of the account.
#[utoipa::path(delete, path = "/admin/v1/pools/{pool}/users/{sub}/mfa", security(("admin" = [])), params(("sub" = String, Path, format = "uuid", description = "The account's `sub`")), responses(
    (status = 200, description = "How many factors were removed", body = Removed),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
))]
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
    state.mail.wake();
    Ok(Json(Removed { removed }))
}
