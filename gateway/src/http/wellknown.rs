//! OIDC discovery (OpenID Connect Discovery 1.0 §3) and the JWKS (RFC 7517) of each pool.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
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
fn cacheable(body: impl serde::Serialize) -> Response {
    let mut res = Json(body).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

/// The client authentication methods of the token and revocation endpoints.
const AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];

/// OpenID Connect Discovery 1.0 §3 provider metadata (and RFC 8414's, RFC 9207's), as this
/// gateway implements them: every value is a fact of the code, none is configured.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub userinfo_endpoint: String,
    pub revocation_endpoint: String,
    pub introspection_endpoint: String,
    pub end_session_endpoint: String,
    pub jwks_uri: String,
    pub response_types_supported: [&'static str; 1],
    pub response_modes_supported: [&'static str; 1],
    pub grant_types_supported: [&'static str; 3],
    pub code_challenge_methods_supported: [&'static str; 1],
    pub token_endpoint_auth_methods_supported: [&'static str; 3],
    pub revocation_endpoint_auth_methods_supported: [&'static str; 3],
    pub introspection_endpoint_auth_methods_supported: [&'static str; 2],
    pub prompt_values_supported: [&'static str; 2],
    pub authorization_response_iss_parameter_supported: bool,
    pub request_parameter_supported: bool,
    pub request_uri_parameter_supported: bool,
    pub claims_parameter_supported: bool,
    pub subject_types_supported: [&'static str; 1],
    pub id_token_signing_alg_values_supported: [&'static str; 2],
    pub scopes_supported: [&'static str; 4],
    pub claims_supported: [&'static str; 15],
    /// `mfa`: a second factor (`acr_values=mfa` asks for one; the ID token's `acr` says it).
    pub acr_values_supported: [&'static str; 1],
}

impl ProviderMetadata {
    fn of(issuer: String) -> Self {
        let grants = accounts::clients::GrantType::ALL.map(|g| g.as_str());
        ProviderMetadata {
            authorization_endpoint: format!("{issuer}/oauth2/authorize"),
            token_endpoint: format!("{issuer}/oauth2/token"),
            userinfo_endpoint: format!("{issuer}/oauth2/userinfo"),
            revocation_endpoint: format!("{issuer}/oauth2/revoke"),
            introspection_endpoint: format!("{issuer}/oauth2/introspect"),
            end_session_endpoint: format!("{issuer}/oauth2/logout"),
            jwks_uri: format!("{issuer}/.well-known/jwks.json"),
            issuer,
            response_types_supported: ["code"],
            response_modes_supported: ["query"],
            grant_types_supported: grants,
            code_challenge_methods_supported: ["S256"],
            token_endpoint_auth_methods_supported: AUTH_METHODS,
            revocation_endpoint_auth_methods_supported: AUTH_METHODS,
            introspection_endpoint_auth_methods_supported: [
                "client_secret_basic",
                "client_secret_post",
            ],
            prompt_values_supported: ["none", "login"],
            authorization_response_iss_parameter_supported: true,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            claims_parameter_supported: false,
            subject_types_supported: ["public"],
            id_token_signing_alg_values_supported: ["ES256", "RS256"],
            scopes_supported: ["openid", "email", "profile", "offline_access"],
            claims_supported: [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "amr",
                "acr",
                "sid",
                "email",
                "email_verified",
                "wallets",
                "wallet",
                "groups",
            ],
            acr_values_supported: ["mfa"],
        }
    }
}

/// The discovery document lists what this pool implements.
#[utoipa::path(get, path = "/.well-known/openid-configuration", responses(
    (status = 200, description = "OpenID Connect Discovery 1.0 §3 provider metadata", body = ProviderMetadata),
    (status = 404, response = Problem),
))]
async fn discovery(State(state): State<AppState>, Pool(pool): Pool) -> Result<Response, AppError> {
    Ok(cacheable(ProviderMetadata::of(
        state.config.issuer(&pool.name),
    )))
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
