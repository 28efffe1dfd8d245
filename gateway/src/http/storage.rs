//! `POST /v1/storage/credentials`: a scoped, short-lived grant on the pool's S3-compatible
//! store for one storage role (DESIGN, "Storage credentials"); the grant itself is
//! [`crate::flows::storage`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

use super::error::AppError;
use super::extract::{AppJson, Authenticated};
use crate::flows::storage::{self, GrantError};
use crate::state::AppState;
use crate::storage::{GrantRequest, Refusal};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/storage/credentials", post(grant))
}

fn refused(status: StatusCode, code: &'static str, detail: impl Into<String>) -> AppError {
    AppError::Refused {
        status,
        code,
        detail: detail.into(),
    }
}

impl From<GrantError> for AppError {
    fn from(e: GrantError) -> Self {
        let detail = e.to_string();
        match e {
            GrantError::NotConfigured(_) => refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_not_configured",
                detail,
            ),
            GrantError::RoleNotFound(_) => refused(StatusCode::NOT_FOUND, "role_not_found", detail),
            GrantError::TooManyObjects => AppError::BadRequest {
                code: "too_many_objects",
                detail,
            },
            GrantError::Refused(r) => match r {
                Refusal::Conditions(why) => {
                    refused(StatusCode::FORBIDDEN, "role_conditions_unmet", why)
                }
                Refusal::Action(a) => refused(
                    StatusCode::FORBIDDEN,
                    "action_not_allowed",
                    format!("the role does not allow {}", a.as_str()),
                ),
                Refusal::Key(why) => refused(StatusCode::BAD_REQUEST, "object_key_invalid", why),
                Refusal::Limits(why) => refused(StatusCode::BAD_REQUEST, "upload_limits", why),
            },
            GrantError::Account(accounts::Error::AccountNotFound) => AppError::Unauthorized,
            GrantError::Account(e) => AppError::Domain(e),
        }
    }
}

/// A grant for the role: presigned URLs for the named objects, and a POST policy when the
/// role allows `put`.
async fn grant(
    State(state): State<AppState>,
    auth: Authenticated,
    AppJson(req): AppJson<GrantRequest>,
) -> Result<Json<Value>, AppError> {
    let answer = storage::grant(&state, &auth.pool, &auth.claims, auth.session.id, &req).await?;
    Ok(Json(answer))
}
