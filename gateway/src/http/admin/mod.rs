//! The operators' API under `/admin/v1`: pools, their app clients, users, groups and the
//! audit log.
//!
//! It is off unless `GATEHOUSE_ADMIN_TOKEN` is set. Two credentials reach it then (DESIGN,
//! HTTP API):
//! - the root `GATEHOUSE_ADMIN_TOKEN`, compared in constant time: every pool, and the only
//!   one that lists or creates pools;
//! - an access token from the `client_credentials` grant of a confidential client of the
//!   pool in the path, granted `admin:read` (reads only) or `admin:write`: validated like
//!   any access token (signature by the pool's key, `typ`, issuer, audience, expiry), and
//!   refused once its client is deleted. It never reaches another pool.
//!
//! Every change is audited with its actor (`root` or `client:{id}`). Lists page with an
//! opaque `cursor` and a `limit`.

mod audit;
mod clients;
mod groups;
mod hooks;
mod identity_providers;
mod import;
mod keys;
mod pools;
mod users;

use accounts::Actor;
use accounts::store::PoolRecord;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use std::collections::HashMap;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;

use super::error::{AppError, Code};
use super::extract::{bearer_token, is_pool_name};
use crate::state::AppState;
use crate::tokens;

/// Lets a confidential client read its pool through the admin API.
pub const SCOPE_READ: &str = "admin:read";
/// Lets a confidential client change its pool through the admin API (and read it).
pub const SCOPE_WRITE: &str = "admin:write";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(pools::router())
        .merge(clients::router())
        .merge(users::router())
        .merge(groups::router())
        .merge(audit::router())
        .merge(keys::router())
        .merge(identity_providers::router())
        .merge(hooks::router())
        .merge(import::router())
}

/// Who is calling the admin API, and what they may do.
pub struct Admin {
    pub actor: Actor,
    /// The pool an admin client belongs to; none for the root token (every pool).
    pool: Option<accounts::PoolId>,
    write: bool,
}

impl Admin {
    /// Only the root token (listing, creating and deleting pools).
    pub fn root(&self) -> Result<(), AppError> {
        if self.pool.is_none() {
            Ok(())
        } else {
            Err(forbidden(
                "only the root admin token may do this (list, create or delete pools)",
            ))
        }
    }

    /// Whether this is the root token.
    pub fn is_root(&self) -> bool {
        self.pool.is_none()
    }

    /// May read `pool`.
    pub fn read(&self, pool: &PoolRecord) -> Result<(), AppError> {
        match self.pool {
            Some(p) if p != pool.id => Err(forbidden("this client administers another pool")),
            _ => Ok(()),
        }
    }

    /// May change `pool`.
    pub fn write(&self, pool: &PoolRecord) -> Result<(), AppError> {
        self.read(pool)?;
        if self.write {
            Ok(())
        } else {
            Err(forbidden(
                "this token may only read: it needs the admin:write scope",
            ))
        }
    }
}

fn forbidden(detail: &str) -> AppError {
    AppError::refused(Code::AdminForbidden, detail)
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        // Without a root token the admin API is off, admin clients included (DESIGN,
        // Configuration): an install turns it on deliberately.
        let Some(expected) = &state.config.admin_token else {
            return Err(AppError::refused(
                Code::AdminDisabled,
                "the admin API is off: set GATEHOUSE_ADMIN_TOKEN",
            ));
        };
        let given = bearer_token(&parts.headers).unwrap_or_default().to_string();
        if given.is_empty() {
            return Err(AppError::Unauthorized);
        }
        if aws_lc_rs::constant_time::verify_slices_are_equal(
            given.as_bytes(),
            expected.expose().as_bytes(),
        )
        .is_ok()
        {
            return Ok(Admin {
                actor: Actor::Root,
                pool: None,
                write: true,
            });
        }
        // Otherwise an access token of the pool in the path, from an admin client. On a
        // route without a pool (the pools themselves) the token is checked against the pool
        // its issuer names, so that a valid admin client hears 403, not 401.
        let pool_name =
            axum::extract::Path::<HashMap<String, String>>::from_request_parts(parts, state)
                .await
                .ok()
                .and_then(|p| p.0.get("pool").cloned())
                .or_else(|| issuer_pool(state, &given));
        let Some(name) = pool_name.filter(|n| is_pool_name(n)) else {
            return Err(AppError::Unauthorized);
        };
        let now = state.clock.now();
        let Some(pool) = state.pools.get(&name, now).await? else {
            return Err(AppError::Unauthorized);
        };
        let keys = state.keys.keys(pool.id, now).await?;
        let issuer = state.config.issuer(&pool.name);
        let claims =
            tokens::verify_access_jwt(&keys, &issuer, &given, now).ok_or(AppError::Unauthorized)?;
        // A client's own token: `sub` is the client, no session, no user claims.
        let client_id = claims.get("client_id").and_then(|v| v.as_str());
        let sub = claims.get("sub").and_then(|v| v.as_str());
        let (Some(client_id), true) = (client_id, client_id == sub && claims.get("sid").is_none())
        else {
            return Err(forbidden("a user's token never reaches the admin API"));
        };
        let scopes: Vec<&str> = match claims.get("scope") {
            Some(serde_json::Value::String(s)) => s.split(' ').collect(),
            _ => Vec::new(),
        };
        let write = scopes.contains(&SCOPE_WRITE);
        if !write && !scopes.contains(&SCOPE_READ) {
            return Err(forbidden(
                "the token needs the admin:read or admin:write scope",
            ));
        }
        // A deleted client's tokens stop at once (a store that is down is a 503, not a 401).
        match state.users.find_client(&pool, client_id).await {
            Ok(_) => {}
            Err(accounts::Error::ClientNotFound) => return Err(AppError::Unauthorized),
            Err(e) => return Err(e.into()),
        }
        Ok(Admin {
            actor: Actor::Client(client_id.to_string()),
            pool: Some(pool.id),
            write,
        })
    }
}

/// The pool an (unverified) JWT's `iss` names, if it is one of this gateway's issuers.
fn issuer_pool(state: &AppState, jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let iss = claims.get("iss")?.as_str()?;
    let prefix = state.config.issuer("");
    iss.strip_prefix(prefix.as_str()).map(str::to_string)
}

/// `?cursor=&limit=` of a list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Where the page starts: the `next_cursor` of the page before.
    pub cursor: Option<String>,
    /// How many items, at most (default 50).
    #[param(minimum = 1)]
    pub limit: Option<i64>,
}

impl Page {
    /// The limit asked for, 1 to `max` (default 50).
    pub fn limit(&self, max: i64) -> Result<i64, AppError> {
        match self.limit {
            None => Ok(50.min(max)),
            Some(n) if (1..=max).contains(&n) => Ok(n),
            Some(_) => Err(AppError::refused(
                Code::InvalidQuery,
                format!("limit must be 1 to {max}"),
            )),
        }
    }

    /// The cursor's text (what [`cursor`] wrapped).
    pub fn cursor_text(&self) -> Result<Option<String>, AppError> {
        self.cursor
            .as_deref()
            .map(|c| {
                URL_SAFE_NO_PAD
                    .decode(c)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(invalid_cursor)
            })
            .transpose()
    }
}

pub fn invalid_cursor() -> AppError {
    AppError::refused(Code::InvalidCursor, "the cursor is not one this API gave")
}

/// Cuts a page fetched with `limit + 1` rows to `limit`: the cursor of the next page (after
/// the last row kept, `key` naming where it is), or none on the last page.
pub fn cut<T>(rows: &mut Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let more = rows.len() > limit;
    rows.truncate(limit);
    more.then(|| rows.last().map(|r| cursor(&key(r)))).flatten()
}

/// An opaque cursor for `text` (where the next page starts).
pub fn cursor(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// The `{sub}` of the path: a user of the pool, or 404 `user_not_found`.
pub fn path_sub(params: &HashMap<String, String>) -> Result<accounts::AccountId, AppError> {
    params
        .get("sub")
        .and_then(|s| accounts::AccountId::parse(s))
        .ok_or_else(|| AppError::refused(Code::UserNotFound, "no such user in this pool"))
}

/// A domain error of an admin route: an unknown account is a 404 here (on `/v1` it is
/// the caller's own account, gone: 401).
pub fn admin_error(e: accounts::Error) -> AppError {
    match e {
        accounts::Error::AccountNotFound => {
            AppError::refused(Code::UserNotFound, "no such user in this pool")
        }
        e => e.into(),
    }
}
