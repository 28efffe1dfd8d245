//! Second factors on the API: answering a sign-in's challenge (`/v1/sessions/mfa…`), and
//! the signed-in account's own factors (`/v1/me/mfa…`). Removing a factor or replacing the
//! backup codes needs a sign-in within 15 minutes; every change is audited and mailed.

use accounts::policy::Factor;
use accounts::{MfaView, TotpEnrolment};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::AppError;
use super::extract::{AppJson, Authenticated, Caller, ClientIp, Pool};
use super::openapi::Problem;
use super::response::StatusResponse;
use crate::flows::mfa::{self, Outcome};
use crate::flows::sign_in;
use crate::state::AppState;
use crate::tokens::TokenSet;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(answer_challenge))
        .routes(routes!(step_up))
        .routes(routes!(send_email_code))
        .routes(routes!(enrol_totp_in_challenge))
        .routes(routes!(my_factors))
        .routes(routes!(start_totp, remove_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(enable_email, remove_email))
        .routes(routes!(replace_backup_codes))
}

/// A sign-in's answer: a token set, or a second factor to answer first.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum SignInResponse {
    Tokens(TokenSet),
    Challenge(ChallengeResponse),
}

/// A second factor is due before the sign-in gets its tokens.
#[derive(Serialize, ToSchema)]
pub struct ChallengeResponse {
    /// `mfa`: answer with one of `factors` at `/v1/sessions/mfa`. `mfa_setup`: the pool
    /// requires a second factor and the account has none: enrol one of `factors`
    /// (`/v1/sessions/mfa/totp` or `/v1/sessions/mfa/email`), then answer with it.
    #[schema(value_type = String, pattern = "^mfa(_setup)?$")]
    challenge: &'static str,
    /// The challenge's opaque handle: lives 5 minutes, dies after 5 wrong answers.
    session: String,
    factors: Vec<Factor>,
    /// Seconds the handle lives.
    expires_in: u64,
}

/// The answer of any sign-in on the API: its token set, or its challenge.
pub(super) async fn sign_in_answer(
    state: &AppState,
    pool: &accounts::store::PoolRecord,
    caller: &Caller,
    outcome: Outcome,
) -> Result<Json<SignInResponse>, AppError> {
    let request_id = caller.request_id.as_deref();
    Ok(Json(match outcome {
        Outcome::Done(issued) => {
            SignInResponse::Tokens(sign_in::token_set(state, pool, &issued, request_id).await?)
        }
        Outcome::Challenge(ch) => SignInResponse::Challenge(ch.into()),
    }))
}

impl From<mfa::Challenge> for ChallengeResponse {
    fn from(ch: mfa::Challenge) -> Self {
        ChallengeResponse {
            challenge: if ch.setup { "mfa_setup" } else { "mfa" },
            session: ch.handle.expose().to_string(),
            factors: ch.factors,
            expires_in: mfa::CHALLENGE_TTL,
        }
    }
}

/// Step-up: a second factor for the signed-in session, whatever the pool asks at sign-in
/// (an app about to do something sensitive). Answered at `/v1/sessions/mfa` like a
/// sign-in's challenge, with a new token set whose `amr` holds `mfa` (the ID token's `acr`
/// says `mfa`); an account without a factor enrols one (`mfa_setup`).
#[utoipa::path(post, path = "/v1/sessions/step-up", security(("user" = [])), responses(
    (status = 200, description = "The challenge to answer", body = ChallengeResponse),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
))]
async fn step_up(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<ChallengeResponse>, AppError> {
    let ch = mfa::step_up(&state, &auth.pool, &auth.session).await?;
    Ok(Json(ch.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChallengeAnswer {
    /// The challenge's handle.
    session: String,
    /// `totp`, `email` or `backup_code`.
    factor: Factor,
    code: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChallengeHandle {
    session: String,
}

/// A token set after a second factor; with the backup codes when the answer enrolled an
/// authenticator app (shown once: keep them).
#[derive(Serialize, ToSchema)]
pub(super) struct MfaTokenSet {
    #[serde(flatten)]
    tokens: TokenSet,
    #[serde(skip_serializing_if = "Option::is_none")]
    backup_codes: Option<Vec<String>>,
}

impl MfaTokenSet {
    pub(super) fn new(tokens: TokenSet, codes: Option<Vec<accounts::secret::Secret>>) -> Self {
        MfaTokenSet {
            tokens,
            backup_codes: codes.map(exposed),
        }
    }
}

/// An authenticator app to enrol: type `secret` in, or scan `otpauth_uri` as a QR code.
#[derive(Serialize, ToSchema)]
struct TotpSecret {
    /// Base32 (RFC 4648), no padding.
    secret: String,
    /// `otpauth://totp/{pool}:{account}?secret=…` (SHA-1, 6 digits, 30 s).
    otpauth_uri: String,
}

impl From<TotpEnrolment> for TotpSecret {
    fn from(e: TotpEnrolment) -> Self {
        TotpSecret {
            secret: e.secret.expose().to_string(),
            otpauth_uri: e.otpauth_uri.expose().to_string(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CodeRequest {
    code: String,
}

/// Ten single-use backup codes, shown once.
#[derive(Serialize, ToSchema)]
struct BackupCodes {
    backup_codes: Vec<String>,
}

fn exposed(codes: Vec<accounts::secret::Secret>) -> Vec<String> {
    codes.iter().map(|c| c.expose().to_string()).collect()
}

/// Answers a sign-in's challenge: a token set with both factors and `mfa` in `amr`.
/// A wrong code is 401 `mfa_code_invalid`; the fifth kills the challenge (400
/// `mfa_session_invalid` after it), and wrong codes count against the account's lockout.
#[utoipa::path(post, path = "/v1/sessions/mfa", request_body = ChallengeAnswer, responses(
    (status = 200, description = "Signed in", body = MfaTokenSet),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 429, response = Problem),
))]
async fn answer_challenge(
    State(state): State<AppState>,
    Pool(pool): Pool,
    caller: Caller,
    AppJson(req): AppJson<ChallengeAnswer>,
) -> Result<Json<MfaTokenSet>, AppError> {
    let answered = mfa::answer(&state, &pool, &caller, &req.session, req.factor, &req.code).await?;
    Ok(Json(MfaTokenSet {
        tokens: sign_in::token_set(
            &state,
            &pool,
            &answered.issued,
            caller.request_id.as_deref(),
        )
        .await?,
        backup_codes: answered.backup_codes.map(exposed),
    }))
}

/// Mails a code that answers the challenge to the account's verified email (a new code
/// replaces the last). Under the same mail budgets as sign-up and recovery.
#[utoipa::path(post, path = "/v1/sessions/mfa/email", request_body = ChallengeHandle, responses(
    (status = 202, description = "A code was mailed", body = StatusResponse),
    (status = 400, response = Problem),
    (status = 409, response = Problem),
    (status = 429, response = Problem),
))]
async fn send_email_code(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    AppJson(req): AppJson<ChallengeHandle>,
) -> Result<(StatusCode, Json<StatusResponse>), AppError> {
    mfa::send_email_code(&state, &pool, &ip, &req.session).await?;
    Ok((StatusCode::ACCEPTED, Json(StatusResponse::new("code_sent"))))
}

/// Under an `mfa_setup` challenge: an authenticator app's secret to enrol. Its first code,
/// sent to `/v1/sessions/mfa` with `factor: totp`, confirms it and answers the challenge.
#[utoipa::path(post, path = "/v1/sessions/mfa/totp", request_body = ChallengeHandle, responses(
    (status = 200, description = "The app's secret", body = TotpSecret),
    (status = 400, response = Problem),
))]
async fn enrol_totp_in_challenge(
    State(state): State<AppState>,
    Pool(pool): Pool,
    AppJson(req): AppJson<ChallengeHandle>,
) -> Result<Json<TotpSecret>, AppError> {
    Ok(Json(
        mfa::start_totp(&state, &pool, &req.session, false)
            .await?
            .into(),
    ))
}

/// The account's second factors and the pool's policy.
#[utoipa::path(get, path = "/v1/me/mfa", security(("user" = [])), responses(
    (status = 200, description = "The account's factors", body = MfaView),
    (status = 401, response = Problem),
))]
async fn my_factors(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<MfaView>, AppError> {
    Ok(Json(
        state.users.mfa_view(&auth.pool, auth.claims.sub).await?,
    ))
}

/// Starts enrolling an authenticator app: its secret, pending until
/// `/v1/me/mfa/totp/confirm` gets a first code. 409 while one is enrolled.
#[utoipa::path(post, path = "/v1/me/mfa/totp", security(("user" = [])), responses(
    (status = 201, description = "The app's secret", body = TotpSecret),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 409, response = Problem),
))]
async fn start_totp(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<(StatusCode, Json<TotpSecret>), AppError> {
    let account = state.users.account(&auth.pool, auth.claims.sub).await?;
    let label = account.email.unwrap_or_else(|| account.sub.to_string());
    let enrolment = state
        .users
        .start_totp(
            &auth.pool,
            auth.claims.sub,
            &label,
            false,
            state.clock.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(enrolment.into())))
}

/// Confirms the app with a first code: answers 10 backup codes (shown once).
#[utoipa::path(post, path = "/v1/me/mfa/totp/confirm", security(("user" = [])), request_body = CodeRequest, responses(
    (status = 200, description = "Enrolled; the backup codes", body = BackupCodes),
    (status = 401, response = Problem),
    (status = 404, response = Problem),
    (status = 409, response = Problem),
))]
async fn confirm_totp(
    State(state): State<AppState>,
    caller: Caller,
    auth: Authenticated,
    AppJson(req): AppJson<CodeRequest>,
) -> Result<Json<BackupCodes>, AppError> {
    crate::ratelimit::hit(
        &state,
        &auth.pool,
        crate::ratelimit::ATTEMPTS_PER_IP,
        &caller.ip,
    )
    .await?;
    let codes = state
        .users
        .confirm_totp(&auth.pool, auth.claims.sub, &req.code, state.clock.now())
        .await?;
    state.mail.wake();
    Ok(Json(BackupCodes {
        backup_codes: exposed(codes),
    }))
}

async fn remove(
    state: &AppState,
    auth: &Authenticated,
    factor: Factor,
) -> Result<StatusCode, AppError> {
    auth.require_recent(state, None).await?;
    state
        .users
        .remove_factor(&auth.pool, auth.claims.sub, factor, state.clock.now())
        .await?;
    state.mail.wake();
    Ok(StatusCode::NO_CONTENT)
}

/// Removes the authenticator app (and, if it was the last factor, the backup codes).
/// Needs a sign-in within 15 minutes; refused for the last factor under a `required` policy.
#[utoipa::path(delete, path = "/v1/me/mfa/totp", security(("user" = [])), responses(
    (status = 204, description = "Removed"),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
    (status = 409, response = Problem),
))]
async fn remove_totp(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<StatusCode, AppError> {
    remove(&state, &auth, Factor::Totp).await
}

/// Makes codes mailed to the account's verified email a second factor.
#[utoipa::path(post, path = "/v1/me/mfa/email", security(("user" = [])), responses(
    (status = 204, description = "Enrolled"),
    (status = 400, response = Problem),
    (status = 401, response = Problem),
    (status = 409, response = Problem),
))]
async fn enable_email(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<StatusCode, AppError> {
    state
        .users
        .enable_email_factor(&auth.pool, auth.claims.sub, state.clock.now())
        .await?;
    state.mail.wake();
    Ok(StatusCode::NO_CONTENT)
}

/// Stops email codes being a second factor. Needs a sign-in within 15 minutes; refused for
/// the last factor under a `required` policy.
#[utoipa::path(delete, path = "/v1/me/mfa/email", security(("user" = [])), responses(
    (status = 204, description = "Removed"),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
    (status = 409, response = Problem),
))]
async fn remove_email(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<StatusCode, AppError> {
    remove(&state, &auth, Factor::Email).await
}

/// A new set of 10 backup codes; the old set stops working. Needs a sign-in within 15
/// minutes and an enrolled factor.
#[utoipa::path(post, path = "/v1/me/mfa/backup-codes", security(("user" = [])), responses(
    (status = 200, description = "The new codes", body = BackupCodes),
    (status = 401, response = Problem),
    (status = 403, response = Problem),
    (status = 404, response = Problem),
))]
async fn replace_backup_codes(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Json<BackupCodes>, AppError> {
    auth.require_recent(&state, None).await?;
    let codes = state
        .users
        .replace_backup_codes(&auth.pool, auth.claims.sub, state.clock.now())
        .await?;
    state.mail.wake();
    Ok(Json(BackupCodes {
        backup_codes: exposed(codes),
    }))
}
