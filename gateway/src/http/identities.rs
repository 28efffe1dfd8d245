//! Federated identities of the signed-in account (DESIGN, Federation): listing and
//! unlinking. Linking goes through the browser (`/federation/{idp}/start?link=1`), since the
//! IdP must see the person.

use accounts::IdentityView;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{AppError, Code};
use super::extract::Authenticated;
use super::openapi::Problem;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_identities))
        .routes(routes!(unlink_identity))
}

/// The account's federated identities, oldest first.
#[derive(Debug, Serialize, ToSchema)]
struct Identities {
    identities: Vec<IdentityView>,
}

/// The optional body of a removal: the current password, when the sign-in is not recent.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Reauth {
    current_password: Option<String>,
}

/// The upstream identities that sign in to this account.
#[utoipa::path(get, path = "/v1/me/identities", security(("user" = [])),
    responses(
        (status = 200, body = Identities),
        (status = 401, response = Problem),
    ))]
async fn list_identities(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Identities>, AppError> {
    let identities = state.users.identities(auth.claims.sub).await?;
    Ok(Json(Identities { identities }))
}

/// Unlinks the account's identity of that IdP, unless it is the last credential that can
/// sign in. Needs a recent authentication (or `{current_password}` as the body). Audited,
/// and the account's email is told.
#[utoipa::path(delete, path = "/v1/me/identities/{idp}", security(("user" = [])),
    params(("idp" = String, Path, description = "The IdP's name in the pool")),
    request_body(content = Option<Reauth>, description = "The current password, when the sign-in is not recent"),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
        (status = 409, response = Problem),
    ))]
async fn unlink_identity(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(params): Path<std::collections::HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Result<StatusCode, AppError> {
    let reauth: Reauth = if body.iter().all(u8::is_ascii_whitespace) {
        Reauth::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AppError::refused(Code::InvalidJson, e.to_string()))?
    };
    auth.require_recent(&state, reauth.current_password.as_deref())
        .await?;
    let idp = params.get("idp").map(String::as_str).unwrap_or_default();
    state
        .users
        .unlink_identity(&auth.pool, auth.claims.sub, idp, state.clock.now())
        .await?;
    state.mail.wake();
    Ok(StatusCode::NO_CONTENT)
}
