//! Wallets: SIWE nonces, sign-in with a wallet, linking and unlinking (EIP-4361; DESIGN
//! rules 1-4).

use accounts::AccountView;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{AppError, Code};
use super::extract::{AppJson, Authenticated, Caller, ClientIp, Pool};
use super::mfa::{SignInResponse, sign_in_answer};
use super::openapi::Problem;
use crate::flows::sign_in;
use crate::siwe;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(issue_nonce))
        .routes(routes!(sign_in_siwe))
        .routes(routes!(link_wallet))
        .routes(routes!(unlink_wallet))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SignedMessage {
    /// The EIP-4361 message, as signed.
    message: String,
    /// The signature (hex, `0x`-prefixed): EIP-191, EIP-1271 or ERC-6492.
    signature: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LinkWallet {
    /// The EIP-4361 message, as signed.
    message: String,
    /// The signature (hex, `0x`-prefixed).
    signature: String,
    /// Needed when the session signed in more than 15 minutes ago.
    current_password: Option<String>,
}

/// The optional body of a removal: the current password, when the sign-in is not recent.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Reauth {
    current_password: Option<String>,
}

/// A SIWE nonce and when it expires (RFC 3339).
#[derive(Debug, Serialize, ToSchema)]
struct NonceResponse {
    nonce: String,
    #[schema(format = DateTime)]
    expires_at: String,
}

/// A nonce for one EIP-4361 message, bound to this pool, valid 5 minutes, usable once.
#[utoipa::path(post, path = "/v1/siwe/nonce", responses(
    (status = 200, description = "A fresh nonce", body = NonceResponse),
    (status = 429, response = Problem),
))]
async fn issue_nonce(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
) -> Result<Json<NonceResponse>, AppError> {
    let (nonce, expires_at) = siwe::issue_nonce_for(&state, &pool, &ip).await?;
    let expires_at = time::OffsetDateTime::from_unix_timestamp(expires_at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    Ok(Json(NonceResponse { nonce, expires_at }))
}

/// Signs in with a wallet (EIP-4361): a token set with `amr: ["siwe"]` and the signer in
/// `wallet`; a wallet's first sign-in creates a wallet-only account.
#[utoipa::path(post, path = "/v1/sessions/siwe", request_body = SignedMessage, responses(
    (status = 200, description = "Signed in, or a second factor is due", body = SignInResponse),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 429, response = Problem),
))]
async fn sign_in_siwe(
    State(state): State<AppState>,
    Pool(pool): Pool,
    caller: Caller,
    AppJson(req): AppJson<SignedMessage>,
) -> Result<Json<SignInResponse>, AppError> {
    let outcome = sign_in::wallet(&state, &pool, &caller, &req.message, &req.signature).await?;
    sign_in_answer(&state, &pool, &caller, outcome).await
}

/// Links the wallet that signed the message to the signed-in account. Needs a recent
/// authentication: a wallet linked with a stolen access token would sign in for good.
#[utoipa::path(post, path = "/v1/me/wallets", security(("user" = [])), request_body = LinkWallet, responses(
    (status = 201, description = "The account with the wallet linked", body = AccountView),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 409, response = Problem),
))]
async fn link_wallet(
    State(state): State<AppState>,
    auth: Authenticated,
    AppJson(req): AppJson<LinkWallet>,
) -> Result<(StatusCode, Json<AccountView>), AppError> {
    auth.require_recent(&state, req.current_password.as_deref())
        .await?;
    let wallet = siwe::prove(&state, &auth.pool, &req.message, &req.signature).await?;
    let view = state
        .users
        .link_wallet(&auth.pool, auth.claims.sub, &wallet, state.clock.now())
        .await?;
    state.mail.wake();
    Ok((StatusCode::CREATED, Json(view)))
}

/// Unlinks a wallet (CAIP-10 in the path), unless it is the last credential that can sign
/// in. Needs a recent authentication (or `{current_password}` as the body).
#[utoipa::path(delete, path = "/v1/me/wallets/{caip10}", security(("user" = [])),
    params(("caip10" = String, Path, description = "The wallet's CAIP-10 id, as the account lists it (`eip155:1:0x…`)")),
    request_body(content = Option<Reauth>, description = "The current password, when the sign-in is not recent"),
    responses(
        (status = 200, description = "The account without the wallet", body = AccountView),
        (status = 400, response = Problem),
        (status = 401, response = Problem),
        (status = 403, response = Problem),
        (status = 404, response = Problem),
        (status = 409, response = Problem),
    ))]
async fn unlink_wallet(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(params): Path<std::collections::HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Result<Json<AccountView>, AppError> {
    let reauth: Reauth = if body.iter().all(u8::is_ascii_whitespace) {
        Reauth::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AppError::refused(Code::InvalidJson, e.to_string()))?
    };
    auth.require_recent(&state, reauth.current_password.as_deref())
        .await?;
    let caip10 = params.get("caip10").map(String::as_str).unwrap_or_default();
    let view = state
        .users
        .unlink_wallet(&auth.pool, auth.claims.sub, caip10, state.clock.now())
        .await?;
    state.mail.wake();
    Ok(Json(view))
}
