//! Passkeys on the API: the account registers, lists, renames and removes its passkeys
//! (`/v1/me/passkeys…`); anyone signs in with one (`/v1/sessions/passkey…`), or answers a
//! second-factor challenge with one (the same routes with the challenge's `session`).
//! Options and credentials are WebAuthn's JSON forms (`PublicKeyCredential.toJSON()`,
//! `parseCreationOptionsFromJSON`/`parseRequestOptionsFromJSON` in browsers).

use accounts::PasskeyView;
use accounts::policy::Factor;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::AppError;
use super::extract::{AppJson, Authenticated, Caller, ClientIp, Pool};
use super::mfa::MfaTokenSet;
use super::openapi::Problem;
use crate::flows::{mfa, passkeys, sign_in};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_passkeys, register_passkey))
        .routes(routes!(registration_options))
        .routes(routes!(rename_passkey, remove_passkey))
        .routes(routes!(sign_in_options))
        .routes(routes!(sign_in_passkey))
}

#[derive(Serialize, ToSchema)]
struct PasskeyList {
    passkeys: Vec<PasskeyView>,
}

/// WebAuthn options: `{publicKey: …}` (PublicKeyCredentialCreationOptionsJSON or
/// PublicKeyCredentialRequestOptionsJSON).
#[derive(Serialize, ToSchema)]
struct Options {
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    public_key: Value,
}

fn options_of(mut v: Value) -> Options {
    Options {
        public_key: v.get_mut("publicKey").map(Value::take).unwrap_or_default(),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Registration {
    /// The browser's `PublicKeyCredential`, as `toJSON()` gives it.
    #[schema(value_type = Object)]
    credential: Value,
    /// What the account calls it (default "Passkey").
    name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Rename {
    name: String,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
struct SignInOptionsRequest {
    /// A second-factor challenge's handle: options for the account's passkeys.
    session: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct SignInOptions {
    /// The ceremony's handle, sent back with the assertion (absent for a challenge: its
    /// `session` is the handle).
    #[serde(skip_serializing_if = "Option::is_none")]
    handle: Option<String>,
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    public_key: Value,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Assertion {
    /// From `/v1/sessions/passkey/options`.
    handle: Option<String>,
    /// A second-factor challenge's handle, instead.
    session: Option<String>,
    /// The browser's `PublicKeyCredential`, as `toJSON()` gives it.
    #[schema(value_type = Object)]
    credential: Value,
}

/// The `{id}` of the path (beside the pool's name).
fn passkey_id(params: &HashMap<String, String>) -> Result<uuid::Uuid, AppError> {
    let raw = params.get("id").map(String::as_str).unwrap_or_default();
    uuid::Uuid::parse_str(raw).map_err(|_| accounts::Error::PasskeyNotFound.into())
}

/// The account's passkeys.
#[utoipa::path(get, path = "/v1/me/passkeys", security(("user" = [])), responses(
    (status = 200, description = "The passkeys", body = PasskeyList),
    (status = 401, response = Problem),
))]
async fn list_passkeys(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<PasskeyList>, AppError> {
    let passkeys = state.users.passkeys(auth.claims.sub).await?;
    Ok(Json(PasskeyList {
        passkeys: passkeys.iter().map(PasskeyView::from).collect(),
    }))
}

/// The options of a passkey registration (a discoverable credential, user verification
/// required; the account's passkeys excluded). Valid 5 minutes.
#[utoipa::path(post, path = "/v1/me/passkeys/options", security(("user" = [])), responses(
    (status = 200, description = "PublicKeyCredentialCreationOptionsJSON", body = Options),
    (status = 401, response = Problem),
))]
async fn registration_options(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<Options>, AppError> {
    let options = passkeys::registration_options(&state, &auth.pool, auth.claims.sub).await?;
    Ok(Json(options_of(options)))
}

/// Registers the passkey the browser created for the options; audited and mailed.
#[utoipa::path(post, path = "/v1/me/passkeys", security(("user" = [])), request_body = Registration, responses(
    (status = 201, description = "Registered", body = PasskeyView),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
))]
async fn register_passkey(
    State(state): State<AppState>,
    auth: Authenticated,
    AppJson(req): AppJson<Registration>,
) -> Result<(StatusCode, Json<PasskeyView>), AppError> {
    let view = passkeys::register(
        &state,
        &auth.pool,
        auth.claims.sub,
        req.credential,
        req.name.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Renames one of the account's passkeys.
#[utoipa::path(patch, path = "/v1/me/passkeys/{id}", security(("user" = [])), params(("id" = String, Path, format = "uuid")), request_body = Rename, responses(
    (status = 200, description = "Renamed", body = PasskeyView),
    (status = 400, response = Problem),
    (status = 404, response = Problem),
))]
async fn rename_passkey(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(params): Path<HashMap<String, String>>,
    AppJson(req): AppJson<Rename>,
) -> Result<Json<PasskeyView>, AppError> {
    let view = state
        .users
        .rename_passkey(
            &auth.pool,
            auth.claims.sub,
            passkey_id(&params)?,
            &req.name,
            state.clock.now(),
        )
        .await?;
    Ok(Json(view))
}

/// Removes one of the account's passkeys: needs a sign-in within 15 minutes; never the last
/// credential that can sign in, nor the last second factor under a `required` policy.
#[utoipa::path(delete, path = "/v1/me/passkeys/{id}", security(("user" = [])), params(("id" = String, Path, format = "uuid")), responses(
    (status = 204, description = "Removed"),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
    (status = 409, response = Problem),
))]
async fn remove_passkey(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(params): Path<HashMap<String, String>>,
) -> Result<StatusCode, AppError> {
    auth.require_recent(&state, None).await?;
    state
        .users
        .remove_passkey(
            &auth.pool,
            auth.claims.sub,
            passkey_id(&params)?,
            state.clock.now(),
        )
        .await?;
    state.mail.wake();
    Ok(StatusCode::NO_CONTENT)
}

/// The options of a passkey sign-in: no account named (a discoverable credential picks
/// it), and a `handle`; with a challenge's `session`, the options of that account's
/// passkeys as its second factor.
#[utoipa::path(post, path = "/v1/sessions/passkey/options", request_body = SignInOptionsRequest, responses(
    (status = 200, description = "PublicKeyCredentialRequestOptionsJSON", body = SignInOptions),
    (status = 400, response = Problem),
    (status = 429, response = Problem),
))]
async fn sign_in_options(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    body: axum::body::Bytes,
) -> Result<Json<SignInOptions>, AppError> {
    // The body is optional: none (or `{}`) asks for a passkey sign-in.
    let req: SignInOptionsRequest = match body.is_empty() {
        true => SignInOptionsRequest::default(),
        false => serde_json::from_slice(&body)
            .map_err(|e| AppError::refused(super::code::Code::InvalidJson, e.to_string()))?,
    };
    let (handle, options) = match req.session {
        Some(session) => (
            None,
            passkeys::challenge_options(&state, &pool, &session).await?,
        ),
        None => {
            let (handle, options) = passkeys::sign_in_options(&state, &pool, &ip).await?;
            (Some(handle), options)
        }
    };
    let public_key = options_of(options).public_key;
    Ok(Json(SignInOptions { handle, public_key }))
}

/// A passkey's assertion: alone, a token set with `amr` `["hwk"|"swk", "user", "mfa"]`;
/// with a challenge's `session`, the challenge's answer. A credential of another account or
/// pool, another origin or RP id, or a counter that went backwards: 401 `passkey_invalid`
/// (or `mfa_code_invalid` for a challenge).
#[utoipa::path(post, path = "/v1/sessions/passkey", request_body = Assertion, responses(
    (status = 200, description = "Signed in", body = MfaTokenSet),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 429, response = Problem),
))]
async fn sign_in_passkey(
    State(state): State<AppState>,
    Pool(pool): Pool,
    caller: Caller,
    AppJson(req): AppJson<Assertion>,
) -> Result<Json<MfaTokenSet>, AppError> {
    let (issued, backup_codes) = match (req.session, req.handle) {
        (Some(session), None) => {
            let credential = req.credential.to_string();
            let answered = mfa::answer(
                &state,
                &pool,
                &caller,
                &session,
                Factor::Passkey,
                &credential,
            )
            .await?;
            (answered.issued, answered.backup_codes)
        }
        (None, Some(handle)) => (
            passkeys::sign_in(&state, &pool, &caller, &handle, req.credential).await?,
            None,
        ),
        _ => {
            return Err(AppError::refused(
                super::code::Code::InvalidJson,
                "give either `handle` (a passkey sign-in) or `session` (a challenge)",
            ));
        }
    };
    Ok(Json(MfaTokenSet::new(
        sign_in::token_set(&state, &pool, &issued, caller.request_id.as_deref()).await?,
        backup_codes,
    )))
}
