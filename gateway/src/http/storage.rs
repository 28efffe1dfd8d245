//! `POST /v1/storage/credentials`: a scoped, short-lived grant on the pool's S3-compatible
//! store for one storage role (DESIGN, "Storage credentials"); the grant itself is
//! [`crate::flows::storage`].

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};

use super::error::{AppError, Code};
use super::extract::{AppJson, Authenticated};
use crate::flows::storage::{self, GrantError};
use crate::state::AppState;
use crate::storage::{Grant, GrantRequest, Refusal};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/storage/credentials", post(grant))
}

impl From<GrantError> for AppError {
    fn from(e: GrantError) -> Self {
        let detail = e.to_string();
        match e {
            GrantError::NotConfigured(_) => AppError::refused(Code::StorageNotConfigured, detail),
            GrantError::RoleNotFound(_) => AppError::refused(Code::RoleNotFound, detail),
            GrantError::TooManyObjects => AppError::refused(Code::TooManyObjects, detail),
            GrantError::Refused(r) => match r {
                Refusal::Conditions(why) => AppError::refused(Code::RoleConditionsUnmet, why),
                Refusal::Action(a) => AppError::refused(
                    Code::ActionNotAllowed,
                    format!("the role does not allow {}", a.as_str()),
                ),
                Refusal::Key(why) => AppError::refused(Code::ObjectKeyInvalid, why),
                Refusal::Limits(why) => AppError::refused(Code::UploadLimits, why),
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
) -> Result<Json<Grant>, AppError> {
    let answer = storage::grant(&state, &auth.pool, &auth.claims, auth.session.id, &req).await?;
    Ok(Json(answer))
}
