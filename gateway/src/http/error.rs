//! Every error answer: RFC 9457 problem details with a stable `code`. Domain errors are mapped
//! here with an exhaustive match, so a new variant forces a decision; each code's status and
//! words are in the one table of `http::code`. 5xx bodies are generic;
//! the cause is logged with the request id.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub use super::code::Code;

#[derive(Debug)]
pub enum AppError {
    Domain(accounts::Error),
    /// No valid bearer token (RFC 6750 §3).
    Unauthorized,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    RateLimited {
        retry_after: u64,
    },
    /// A backing service (database, Redis) is down: 503, and only that.
    Unavailable(String),
    /// A bug: 500 with the request id in the body and the log; the cause only in the log.
    Internal(String),
    /// Any other refusal: its code (which sets the status) and a sentence for developers.
    Refused {
        code: Code,
        detail: String,
    },
    /// A Sign-In with Ethereum message or signature was refused.
    Siwe(wallet::VerifyError),
}

impl AppError {
    pub fn refused(code: Code, detail: impl Into<String>) -> Self {
        AppError::Refused {
            code,
            detail: detail.into(),
        }
    }
}

impl From<wallet::VerifyError> for AppError {
    fn from(e: wallet::VerifyError) -> Self {
        AppError::Siwe(e)
    }
}

/// The stable code of a refused SIWE message (EIP-4361).
fn siwe(e: &wallet::VerifyError) -> Code {
    use wallet::VerifyError as V;
    match e {
        V::Malformed(_) => Code::SiweMessageInvalid,
        V::Domain => Code::SiweDomainMismatch,
        V::Uri => Code::SiweUriMismatch,
        V::ChainId => Code::SiweChainNotAllowed,
        V::Nonce => Code::NonceInvalid,
        V::Expired => Code::SiweExpired,
        V::NotYetValid => Code::SiweNotYetValid,
        V::IssuedAt => Code::SiweIssuedAtInvalid,
        V::BadSignature | V::WrongSigner | V::SignerUnknown(_) => Code::SignatureInvalid,
        V::NoRpc(_) => Code::ChainNotConfigured,
        V::ChainUnavailable(_) => Code::ChainUnavailable,
    }
}

impl AppError {
    /// The stable code this error answers with (its status and its words are the code's).
    pub fn code(&self) -> Code {
        match self {
            AppError::Domain(e) => domain(e).0,
            AppError::Siwe(e) => siwe(e),
            AppError::Refused { code, .. } => *code,
            AppError::Unauthorized => Code::InvalidToken,
            AppError::MethodNotAllowed => Code::MethodNotAllowed,
            AppError::PayloadTooLarge => Code::PayloadTooLarge,
            AppError::UnsupportedMediaType => Code::UnsupportedMediaType,
            AppError::RateLimited { .. } => Code::RateLimited,
            AppError::Unavailable(_) => Code::Unavailable,
            AppError::Internal(_) => Code::InternalError,
        }
    }

    /// Whether this is the gateway's fault or a backing service's (logged, never shown).
    pub fn is_server_error(&self) -> bool {
        self.code().status().is_server_error()
    }
}

impl From<accounts::Error> for AppError {
    fn from(e: accounts::Error) -> Self {
        AppError::Domain(e)
    }
}

impl From<crate::flows::Error> for AppError {
    fn from(e: crate::flows::Error) -> Self {
        match e {
            crate::flows::Error::Limited { retry_after } => AppError::RateLimited { retry_after },
            crate::flows::Error::Account(e) => AppError::Domain(e),
            crate::flows::Error::Wallet(e) => AppError::Siwe(e),
        }
    }
}

impl From<crate::siwe::Error> for AppError {
    fn from(e: crate::siwe::Error) -> Self {
        crate::flows::Error::from(e).into()
    }
}

impl From<crate::ratelimit::Error> for AppError {
    fn from(e: crate::ratelimit::Error) -> Self {
        match e {
            crate::ratelimit::Error::Limited { retry_after } => {
                AppError::RateLimited { retry_after }
            }
            crate::ratelimit::Error::Store(e) => AppError::Domain(e),
        }
    }
}

impl From<JsonRejection> for AppError {
    fn from(r: JsonRejection) -> Self {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::UnsupportedMediaType,
            _ => AppError::refused(Code::InvalidJson, r.body_text()),
        }
    }
}

impl From<PathRejection> for AppError {
    fn from(r: PathRejection) -> Self {
        AppError::refused(Code::InvalidPath, r.body_text())
    }
}

impl From<QueryRejection> for AppError {
    fn from(r: QueryRejection) -> Self {
        AppError::refused(Code::InvalidQuery, r.body_text())
    }
}

/// The stable code and a sentence for developers.
fn domain(e: &accounts::Error) -> (Code, String) {
    use accounts::Error as E;
    let msg = e.to_string();
    match e {
        E::InvalidEmail => (Code::InvalidEmail, msg),
        E::PasswordTooShort { .. }
        | E::PasswordTooLong { .. }
        | E::PasswordTooCommon
        | E::PasswordMatchesEmail => (Code::PasswordPolicy, msg),
        E::InvalidCredentials => (Code::InvalidCredentials, msg),
        E::AccountDisabled => (Code::AccountDisabled, msg),
        E::CodeInvalid => (Code::CodeInvalid, msg),
        E::InvalidRefreshToken => (Code::InvalidGrant, msg),
        E::CurrentPasswordRequired => (Code::CurrentPasswordRequired, msg),
        E::EmailTaken => (Code::EmailTaken, msg),
        E::InvalidAttributes(_) => (Code::InvalidAttributes, msg),
        E::AccountNotFound => (Code::InvalidToken, "the account no longer exists".into()),
        E::PoolNotFound => (Code::PoolNotFound, msg),
        E::Deleted => (Code::NotFound, msg),
        E::WalletAlreadyLinked => (Code::WalletAlreadyLinked, msg),
        E::WalletNotFound => (Code::WalletNotFound, msg),
        E::LastCredential => (Code::LastCredential, msg),
        E::InvalidPoolConfig(_) => (Code::InvalidPoolConfig, msg),
        E::InvalidClient(_) => (Code::InvalidClientMetadata, msg),
        E::ClientNotFound => (Code::ClientNotFound, msg),
        E::PoolExists => (Code::PoolExists, msg),
        E::PoolNotEmpty => (Code::PoolNotEmpty, msg),
        E::PoolProtected => (Code::PoolProtected, msg),
        E::VersionMismatch => (Code::VersionMismatch, msg),
        E::GroupExists => (Code::GroupExists, msg),
        E::GroupNotFound => (Code::GroupNotFound, msg),
        E::InvalidGroup(_) => (Code::InvalidGroup, msg),
        E::Unavailable(_) => (
            Code::Unavailable,
            "a backing service is unavailable; try again shortly".into(),
        ),
        E::Overloaded(_) => (
            Code::Overloaded,
            "the service is at capacity; try again in a moment".into(),
        ),
        E::ReauthenticationRequired => (Code::ReauthenticationRequired, msg),
        E::PasswordCompromised => (Code::PasswordCompromised, msg),
        E::PasskeyNotFound => (Code::PasskeyNotFound, msg),
        E::PasskeyInvalid => (Code::PasskeyInvalid, msg),
        E::PasswordResetRequired => (Code::PasswordResetRequired, msg),
        E::MfaCodeInvalid => (Code::MfaCodeInvalid, msg),
        E::MfaSessionInvalid => (Code::MfaSessionInvalid, msg),
        E::MfaAlreadyEnrolled => (Code::MfaAlreadyEnrolled, msg),
        E::MfaNotEnrolled => (Code::MfaNotEnrolled, msg),
        E::FactorNotAllowed => (Code::FactorNotAllowed, msg),
        E::LastFactor => (Code::LastFactor, msg),
        E::EmailUnverified => (Code::EmailUnverified, msg),
        E::InvalidIdpConfig(_) => (Code::InvalidIdpConfig, msg),
        E::IdpNotFound => (Code::IdpNotFound, msg),
        E::IdpExists => (Code::IdpExists, msg),
        E::IdpInUse => (Code::IdpInUse, msg),
        E::IdentityTaken => (Code::IdentityTaken, msg),
        E::IdentityNotFound => (Code::IdentityNotFound, msg),
        E::InvalidHookConfig(_) => (Code::InvalidHookConfig, msg),
        E::HookExists => (Code::HookExists, msg),
        E::HookNotFound => (Code::HookNotFound, msg),
        E::SignUpDenied(_) => (Code::SignUpDenied, msg),
        // Answered as any wrong password on the API; the hosted page says the hook's words.
        E::SignInDenied(_) => (
            Code::InvalidCredentials,
            accounts::Error::InvalidCredentials.to_string(),
        ),
        E::HookFailed => (Code::HookFailed, msg),
        E::AccountExists => (Code::InvalidAttributes, msg),
        E::Store(_) | E::Ephemeral(_) | E::Crypto => (
            Code::InternalError,
            "something went wrong on our side".into(),
        ),
    }
}

/// An RFC 9457 problem details body, with the stable `code` clients switch on.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemDetails<'a> {
    /// Always `about:blank`: the `code` says what went wrong (RFC 9457 §4.2.1).
    #[serde(rename = "type")]
    #[schema(value_type = String, examples("about:blank"))]
    pub kind: &'static str,
    /// The status's reason phrase.
    pub title: &'static str,
    /// The HTTP status, repeated.
    pub status: u16,
    /// What went wrong, for programs.
    #[schema(value_type = Code)]
    pub code: &'static str,
    /// What went wrong, for developers.
    pub detail: &'a str,
    /// On a 500 only: the request's id, as the log has it, for a report. Added on the way
    /// out (`http::request_id_on_server_errors`), where the id is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<&'a str>,
}

/// An RFC 9457 problem: the code's status, the code and `detail`.
pub fn problem(code: Code, detail: &str) -> Response {
    let status = code.status();
    let body = ProblemDetails {
        kind: "about:blank",
        title: status.canonical_reason().unwrap_or("Error"),
        status: status.as_u16(),
        code: code.as_str(),
        detail,
        request_id: None,
    };
    let mut res = (status, Json(body)).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    res
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let code = self.code();
        let mut res = match self {
            AppError::Domain(e) => {
                let (code, detail) = domain(&e);
                if code.status().is_server_error() {
                    tracing::error!(error = %e, "request failed");
                }
                problem(code, &detail)
            }
            AppError::Siwe(e) => problem(code, &e.to_string()),
            AppError::Unauthorized => problem(code, "a valid bearer access token is required"),
            AppError::MethodNotAllowed => problem(code, "this method is not allowed here"),
            AppError::PayloadTooLarge => problem(code, "the request body is too large"),
            AppError::UnsupportedMediaType => problem(code, "send the body as application/json"),
            AppError::RateLimited { retry_after } => {
                let mut res = problem(code, "too many requests; try again later");
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
                res
            }
            AppError::Refused { code, detail } => problem(code, &detail),
            AppError::Internal(why) => {
                tracing::error!(error = %why, "internal error");
                problem(code, "something went wrong on our side")
            }
            AppError::Unavailable(why) => {
                tracing::error!(error = %why, "not ready");
                problem(code, "a backing service is unavailable")
            }
        };
        if code == Code::Unavailable {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        if code == Code::Overloaded {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if code == Code::InvalidToken {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        res
    }
}
