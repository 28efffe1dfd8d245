//! Every error answer: RFC 9457 problem details with a stable `code`. Domain errors are mapped
//! here with an exhaustive match, so a new variant forces a decision. 5xx bodies are generic;
//! the cause is logged with the request id.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub enum AppError {
    Domain(accounts::Error),
    /// A request the API cannot take: malformed, missing or wrong fields.
    BadRequest {
        code: &'static str,
        detail: String,
    },
    /// No valid bearer token (RFC 6750 §3).
    Unauthorized,
    NotFound {
        code: &'static str,
        detail: &'static str,
    },
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
    /// Any other refusal with its own status and stable code.
    Refused {
        status: StatusCode,
        code: &'static str,
        detail: String,
    },
    /// A Sign-In with Ethereum message or signature was refused.
    Siwe(wallet::VerifyError),
}

impl From<wallet::VerifyError> for AppError {
    fn from(e: wallet::VerifyError) -> Self {
        AppError::Siwe(e)
    }
}

/// Status and stable code of a refused SIWE message (EIP-4361).
fn siwe(e: &wallet::VerifyError) -> (StatusCode, &'static str) {
    use wallet::VerifyError as V;
    match e {
        V::Malformed(_) => (StatusCode::BAD_REQUEST, "siwe_message_invalid"),
        V::Domain => (StatusCode::BAD_REQUEST, "siwe_domain_mismatch"),
        V::Uri => (StatusCode::BAD_REQUEST, "siwe_uri_mismatch"),
        V::ChainId => (StatusCode::BAD_REQUEST, "siwe_chain_not_allowed"),
        V::Nonce => (StatusCode::BAD_REQUEST, "nonce_invalid"),
        V::Expired => (StatusCode::BAD_REQUEST, "siwe_expired"),
        V::NotYetValid => (StatusCode::BAD_REQUEST, "siwe_not_yet_valid"),
        V::IssuedAt => (StatusCode::BAD_REQUEST, "siwe_issued_at_invalid"),
        V::BadSignature | V::WrongSigner | V::SignerUnknown(_) => {
            (StatusCode::UNAUTHORIZED, "signature_invalid")
        }
        V::NoRpc(_) => (StatusCode::BAD_REQUEST, "chain_not_configured"),
        V::ChainUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "chain_unavailable"),
    }
}

impl AppError {
    /// The stable code this error answers with (the hosted pages turn it into words).
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Domain(e) => domain(e).1,
            AppError::Siwe(e) => siwe(e).1,
            AppError::BadRequest { code, .. }
            | AppError::NotFound { code, .. }
            | AppError::Refused { code, .. } => code,
            AppError::Unauthorized => "invalid_token",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::PayloadTooLarge => "payload_too_large",
            AppError::UnsupportedMediaType => "unsupported_media_type",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::Unavailable(_) => "unavailable",
            AppError::Internal(_) => "internal_error",
        }
    }

    /// Whether this is the gateway's fault or a backing service's (logged, never shown).
    pub fn is_server_error(&self) -> bool {
        match self {
            AppError::Domain(e) => domain(e).0.is_server_error(),
            AppError::Siwe(e) => siwe(e).0.is_server_error(),
            AppError::Refused { status, .. } => status.is_server_error(),
            AppError::Unavailable(_) | AppError::Internal(_) => true,
            _ => false,
        }
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
            _ => AppError::BadRequest {
                code: "invalid_json",
                detail: r.body_text(),
            },
        }
    }
}

impl From<PathRejection> for AppError {
    fn from(r: PathRejection) -> Self {
        AppError::BadRequest {
            code: "invalid_path",
            detail: r.body_text(),
        }
    }
}

impl From<QueryRejection> for AppError {
    fn from(r: QueryRejection) -> Self {
        AppError::BadRequest {
            code: "invalid_query",
            detail: r.body_text(),
        }
    }
}

/// Status, stable code and a sentence for people.
fn domain(e: &accounts::Error) -> (StatusCode, &'static str, String) {
    use accounts::Error as E;
    let msg = e.to_string();
    match e {
        E::InvalidEmail => (StatusCode::BAD_REQUEST, "invalid_email", msg),
        E::PasswordTooShort { .. }
        | E::PasswordTooLong { .. }
        | E::PasswordTooCommon
        | E::PasswordMatchesEmail => (StatusCode::BAD_REQUEST, "password_policy", msg),
        E::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials", msg),
        E::AccountDisabled => (StatusCode::FORBIDDEN, "account_disabled", msg),
        E::CodeInvalid => (StatusCode::BAD_REQUEST, "code_invalid", msg),
        E::InvalidRefreshToken => (StatusCode::BAD_REQUEST, "invalid_grant", msg),
        E::CurrentPasswordRequired => (StatusCode::BAD_REQUEST, "current_password_required", msg),
        E::EmailTaken => (StatusCode::CONFLICT, "email_taken", msg),
        E::InvalidAttributes(_) => (StatusCode::BAD_REQUEST, "invalid_attributes", msg),
        E::AccountNotFound => (
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the account no longer exists".into(),
        ),
        E::PoolNotFound => (StatusCode::NOT_FOUND, "pool_not_found", msg),
        E::WalletAlreadyLinked => (StatusCode::CONFLICT, "wallet_already_linked", msg),
        E::WalletNotFound => (StatusCode::NOT_FOUND, "wallet_not_found", msg),
        E::LastCredential => (StatusCode::CONFLICT, "last_credential", msg),
        E::InvalidPoolConfig(_) => (StatusCode::BAD_REQUEST, "invalid_pool_config", msg),
        E::InvalidClient(_) => (StatusCode::BAD_REQUEST, "invalid_client_metadata", msg),
        E::ClientNotFound => (StatusCode::NOT_FOUND, "client_not_found", msg),
        E::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "a backing service is unavailable; try again shortly".into(),
        ),
        E::ReauthenticationRequired => (StatusCode::FORBIDDEN, "reauthentication_required", msg),
        E::Store(_) | E::Ephemeral(_) | E::Crypto => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "something went wrong on our side".into(),
        ),
    }
}

pub fn problem(status: StatusCode, code: &str, detail: &str) -> Response {
    let body = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "code": code,
        "detail": detail,
    });
    let mut res = (status, Json(body)).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    res
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Domain(e) => {
                let (status, code, detail) = domain(&e);
                if status.is_server_error() {
                    tracing::error!(error = %e, "request failed");
                }
                let mut res = problem(status, code, &detail);
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    res.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
                }
                if status == StatusCode::UNAUTHORIZED && code == "invalid_token" {
                    res.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Bearer error=\"invalid_token\""),
                    );
                }
                res
            }
            AppError::Siwe(e) => {
                let (status, code) = siwe(&e);
                problem(status, code, &e.to_string())
            }
            AppError::BadRequest { code, detail } => {
                problem(StatusCode::BAD_REQUEST, code, &detail)
            }
            AppError::Unauthorized => {
                let mut res = problem(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "a valid bearer access token is required",
                );
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                res
            }
            AppError::NotFound { code, detail } => problem(StatusCode::NOT_FOUND, code, detail),
            AppError::MethodNotAllowed => problem(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this method is not allowed here",
            ),
            AppError::PayloadTooLarge => problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is too large",
            ),
            AppError::UnsupportedMediaType => problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ),
            AppError::RateLimited { retry_after } => {
                let mut res = problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many requests; try again later",
                );
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
                res
            }
            AppError::Refused {
                status,
                code,
                detail,
            } => problem(status, code, &detail),
            AppError::Internal(why) => {
                tracing::error!(error = %why, "internal error");
                problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "something went wrong on our side",
                )
            }
            AppError::Unavailable(why) => {
                tracing::error!(error = %why, "not ready");
                let mut res = problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "a backing service is unavailable",
                );
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
                res
            }
        }
    }
}
