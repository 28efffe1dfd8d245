//! OIDC discovery (OpenID Connect Discovery 1.0 §3) and the JWKS (RFC 7517) of each pool.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::AppError;
use super::extract::Pool;
use super::openapi::Problem;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(discovery))
        .routes(routes!(jwks))
}

/// Verifiers may cache these for five minutes; new keys are published earlier than that
/// before they sign.
fn cacheable(body: serde_json::Value) -> Response {
    let mut res = Json(body).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

/// The discovery document lists what this pool implements.
#[utoipa::path(get, path = "/.well-known/openid-configuration", responses(
    (status = 200, description = "OpenID Connect Discovery 1.0 §3 provider metadata", body = Object),
    (status = 404, response = Problem),
))]
async fn discovery(State(state): State<AppState>, Pool(pool): Pool) -> Result<Response, AppError> {
    let issuer = state.config.issuer(&pool.name);
    let auth_methods = ["client_secret_basic", "client_secret_post", "none"];
    Ok(cacheable(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "end_session_endpoint": format!("{issuer}/oauth2/logout"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "prompt_values_supported": ["none", "login"],
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "scopes_supported": ["openid", "email", "profile", "offline_access"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "sid",
            "email", "email_verified", "wallets", "wallet", "groups"
        ],
    })))
}

/// Every published key of the pool: current, upcoming and retiring.
#[utoipa::path(get, path = "/.well-known/jwks.json", responses(
    (status = 200, description = "An RFC 7517 JWK Set", body = Object),
    (status = 404, response = Problem),
))]
async fn jwks(State(state): State<AppState>, Pool(pool): Pool) -> Result<Response, AppError> {
    let keys = state.keys.keys(pool.id, state.clock.now()).await?;
    Ok(cacheable(keys.jwks().clone()))
}
