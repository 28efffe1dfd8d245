//! `POST /v1/storage/credentials`: a scoped, short-lived grant on the pool's S3-compatible
//! store for one storage role (DESIGN, "Storage credentials"); the grant itself is
//! [`crate::flows::storage`].

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{AppError, Code};
use super::extract::{AppJson, Authenticated};
use super::openapi::Problem;
use crate::flows::storage::{self, GrantError};
use crate::state::AppState;
use crate::storage::{Grant, GrantRequest, Refusal};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(grant))
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
#[utoipa::path(post, path = "/v1/storage/credentials", security(("user" = [])), request_body = GrantRequest, responses(
    (status = 200, description = "A grant confined to the account's prefix", body = Grant),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
    (status = 503, response = Problem),
))]
async fn grant(
    State(state): State<AppState>,
    auth: Authenticated,
    AppJson(req): AppJson<GrantRequest>,
) -> Result<Json<Grant>, AppError> {
    let answer = storage::grant(&state, &auth.pool, &auth.claims, auth.session.id, &req).await?;
    Ok(Json(answer))
}
