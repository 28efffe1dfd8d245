//! Every stable error code, in one exhaustive table: the name clients switch on, the HTTP
//! status it answers with (API and hosted pages alike) and what it means to a person. There
//! is no `_` arm: a new code does not compile until it has its status and its words.

use axum::http::StatusCode;

use crate::words::{ErrorWords, words};

/// Declares [`Code`] and [`Code::ALL`] from one list, so that no code can be left out of
/// `ALL` (and so out of the OpenAPI document's `code` enum).
macro_rules! codes {
    ($($(#[$doc:meta])* $code:ident,)*) => {
        /// A stable error code; its name, status and words are in the table below.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Code {
            $($(#[$doc])* $code,)*
        }

        impl Code {
            /// Every code, in declaration order.
            pub const ALL: &'static [Code] = &[$(Code::$code,)*];
        }
    };
}

codes! {
    // Accounts.
    InvalidEmail,
    PasswordPolicy,
    InvalidCredentials,
    AccountDisabled,
    CodeInvalid,
    InvalidGrant,
    CurrentPasswordRequired,
    PasswordRequired,
    EmailTaken,
    InvalidAttributes,
    InvalidToken,
    PoolNotFound,
    WalletAlreadyLinked,
    WalletNotFound,
    LastCredential,
    InvalidPoolConfig,
    InvalidClientMetadata,
    ClientNotFound,
    ReauthenticationRequired,
    SessionNotFound,
    PasswordCompromised,
    PasswordResetRequired,
    PasskeyNotFound,
    PasskeyInvalid,
    // Second factors.
    MfaCodeInvalid,
    MfaSessionInvalid,
    MfaAlreadyEnrolled,
    MfaNotEnrolled,
    FactorNotAllowed,
    LastFactor,
    EmailUnverified,
    // Federation.
    IdpNotFound,
    IdentityTaken,
    IdentityNotFound,
    FederationStateInvalid,
    FederationFailed,
    IdpUnavailable,
    // Hooks.
    SignUpDenied,
    HookFailed,
    // Operators.
    InvalidIdpConfig,
    IdpExists,
    IdpInUse,
    InvalidHookConfig,
    HookExists,
    HookNotFound,
    PoolExists,
    PoolNotEmpty,
    PoolProtected,
    VersionMismatch,
    GroupExists,
    GroupNotFound,
    InvalidGroup,
    UserNotFound,
    AdminForbidden,
    InvalidCursor,
    // Sign-In with Ethereum.
    SiweMessageInvalid,
    SiweDomainMismatch,
    SiweUriMismatch,
    SiweChainNotAllowed,
    NonceInvalid,
    SiweExpired,
    SiweNotYetValid,
    SiweIssuedAtInvalid,
    SignatureInvalid,
    ChainNotConfigured,
    ChainUnavailable,
    // Storage credentials.
    StorageNotConfigured,
    RoleNotFound,
    RoleConditionsUnmet,
    ActionNotAllowed,
    ObjectKeyInvalid,
    UploadLimits,
    TooManyObjects,
    // Requests.
    InvalidJson,
    InvalidPath,
    InvalidQuery,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    AdminDisabled,
    RateLimited,
    // Hosted pages.
    CsrfInvalid,
    RequestExpired,
    // The gateway's side.
    Unavailable,
    Overloaded,
    InternalError,
}

impl Code {
    /// The table.
    fn entry(self, w: &'static ErrorWords) -> (&'static str, StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            Code::InvalidEmail => ("invalid_email", S::BAD_REQUEST, w.invalid_email),
            Code::PasswordPolicy => ("password_policy", S::BAD_REQUEST, w.password_policy),
            Code::InvalidCredentials => (
                "invalid_credentials",
                S::UNAUTHORIZED,
                w.invalid_credentials,
            ),
            Code::AccountDisabled => ("account_disabled", S::FORBIDDEN, w.account_disabled),
            Code::CodeInvalid => ("code_invalid", S::BAD_REQUEST, w.code_invalid),
            Code::InvalidGrant => ("invalid_grant", S::BAD_REQUEST, w.session_expired),
            Code::CurrentPasswordRequired => (
                "current_password_required",
                S::BAD_REQUEST,
                w.current_password_required,
            ),
            Code::PasswordRequired => ("password_required", S::BAD_REQUEST, w.password_required),
            Code::EmailTaken => ("email_taken", S::CONFLICT, w.email_taken),
            Code::InvalidAttributes => ("invalid_attributes", S::BAD_REQUEST, w.invalid_attributes),
            Code::InvalidToken => ("invalid_token", S::UNAUTHORIZED, w.session_expired),
            Code::PoolNotFound => ("pool_not_found", S::NOT_FOUND, w.not_found),
            Code::WalletAlreadyLinked => (
                "wallet_already_linked",
                S::CONFLICT,
                w.wallet_already_linked,
            ),
            Code::WalletNotFound => ("wallet_not_found", S::NOT_FOUND, w.wallet_not_found),
            Code::LastCredential => ("last_credential", S::CONFLICT, w.last_credential),
            Code::InvalidPoolConfig => ("invalid_pool_config", S::BAD_REQUEST, w.bad_request),
            Code::InvalidClientMetadata => {
                ("invalid_client_metadata", S::BAD_REQUEST, w.bad_request)
            }
            Code::ClientNotFound => ("client_not_found", S::NOT_FOUND, w.not_found),
            Code::SessionNotFound => ("session_not_found", S::NOT_FOUND, w.not_found),
            Code::PasskeyNotFound => ("passkey_not_found", S::NOT_FOUND, w.not_found),
            Code::PasskeyInvalid => ("passkey_invalid", S::UNAUTHORIZED, w.passkey_invalid),
            Code::PasswordCompromised => (
                "password_compromised",
                S::BAD_REQUEST,
                w.password_compromised,
            ),
            Code::PasswordResetRequired => (
                "password_reset_required",
                S::FORBIDDEN,
                w.password_reset_required,
            ),
            Code::MfaCodeInvalid => ("mfa_code_invalid", S::UNAUTHORIZED, w.mfa_code_invalid),
            Code::MfaSessionInvalid => {
                ("mfa_session_invalid", S::BAD_REQUEST, w.mfa_session_invalid)
            }
            Code::MfaAlreadyEnrolled => {
                ("mfa_already_enrolled", S::CONFLICT, w.mfa_already_enrolled)
            }
            Code::MfaNotEnrolled => ("mfa_not_enrolled", S::NOT_FOUND, w.mfa_not_enrolled),
            Code::FactorNotAllowed => ("factor_not_allowed", S::BAD_REQUEST, w.factor_not_allowed),
            Code::LastFactor => ("last_factor", S::CONFLICT, w.last_factor),
            Code::EmailUnverified => ("email_unverified", S::CONFLICT, w.email_unverified),
            Code::IdpNotFound => ("idp_not_found", S::NOT_FOUND, w.idp_not_found),
            Code::IdentityTaken => ("identity_taken", S::CONFLICT, w.identity_taken),
            Code::IdentityNotFound => ("identity_not_found", S::NOT_FOUND, w.not_found),
            Code::FederationStateInvalid => (
                "federation_state_invalid",
                S::BAD_REQUEST,
                w.federation_state_invalid,
            ),
            Code::FederationFailed => ("federation_failed", S::UNAUTHORIZED, w.federation_failed),
            Code::IdpUnavailable => ("idp_unavailable", S::BAD_GATEWAY, w.idp_unavailable),
            Code::InvalidIdpConfig => ("invalid_idp_config", S::BAD_REQUEST, w.bad_request),
            Code::IdpExists => ("idp_exists", S::CONFLICT, w.bad_request),
            Code::IdpInUse => ("idp_in_use", S::CONFLICT, w.not_allowed),
            Code::SignUpDenied => ("sign_up_denied", S::FORBIDDEN, w.sign_up_denied),
            Code::HookFailed => ("hook_failed", S::BAD_GATEWAY, w.hook_failed),
            Code::InvalidHookConfig => ("invalid_hook_config", S::BAD_REQUEST, w.bad_request),
            Code::HookExists => ("hook_exists", S::CONFLICT, w.bad_request),
            Code::HookNotFound => ("hook_not_found", S::NOT_FOUND, w.not_found),
            Code::PoolExists => ("pool_exists", S::CONFLICT, w.bad_request),
            Code::PoolNotEmpty => ("pool_not_empty", S::CONFLICT, w.bad_request),
            Code::PoolProtected => ("pool_protected", S::CONFLICT, w.not_allowed),
            Code::VersionMismatch => ("version_mismatch", S::PRECONDITION_FAILED, w.bad_request),
            Code::GroupExists => ("group_exists", S::CONFLICT, w.bad_request),
            Code::GroupNotFound => ("group_not_found", S::NOT_FOUND, w.not_found),
            Code::InvalidGroup => ("invalid_group", S::BAD_REQUEST, w.bad_request),
            Code::UserNotFound => ("user_not_found", S::NOT_FOUND, w.not_found),
            Code::AdminForbidden => ("admin_forbidden", S::FORBIDDEN, w.not_allowed),
            Code::InvalidCursor => ("invalid_cursor", S::BAD_REQUEST, w.bad_request),
            Code::ReauthenticationRequired => (
                "reauthentication_required",
                S::FORBIDDEN,
                w.reauthentication_required,
            ),
            Code::SiweMessageInvalid => (
                "siwe_message_invalid",
                S::BAD_REQUEST,
                w.siwe_message_invalid,
            ),
            Code::SiweDomainMismatch => ("siwe_domain_mismatch", S::BAD_REQUEST, w.siwe_other_site),
            Code::SiweUriMismatch => ("siwe_uri_mismatch", S::BAD_REQUEST, w.siwe_other_site),
            Code::SiweChainNotAllowed => (
                "siwe_chain_not_allowed",
                S::BAD_REQUEST,
                w.siwe_chain_not_allowed,
            ),
            Code::NonceInvalid => ("nonce_invalid", S::BAD_REQUEST, w.nonce_invalid),
            Code::SiweExpired => ("siwe_expired", S::BAD_REQUEST, w.siwe_out_of_date),
            Code::SiweNotYetValid => ("siwe_not_yet_valid", S::BAD_REQUEST, w.siwe_out_of_date),
            Code::SiweIssuedAtInvalid => {
                ("siwe_issued_at_invalid", S::BAD_REQUEST, w.siwe_out_of_date)
            }
            Code::SignatureInvalid => ("signature_invalid", S::UNAUTHORIZED, w.signature_invalid),
            Code::ChainNotConfigured => {
                ("chain_not_configured", S::BAD_REQUEST, w.chain_unreachable)
            }
            Code::ChainUnavailable => (
                "chain_unavailable",
                S::SERVICE_UNAVAILABLE,
                w.chain_unreachable,
            ),
            Code::StorageNotConfigured => (
                "storage_not_configured",
                S::SERVICE_UNAVAILABLE,
                w.storage_unavailable,
            ),
            Code::RoleNotFound => ("role_not_found", S::NOT_FOUND, w.not_found),
            Code::RoleConditionsUnmet => ("role_conditions_unmet", S::FORBIDDEN, w.not_allowed),
            Code::ActionNotAllowed => ("action_not_allowed", S::FORBIDDEN, w.not_allowed),
            Code::ObjectKeyInvalid => ("object_key_invalid", S::BAD_REQUEST, w.bad_request),
            Code::UploadLimits => ("upload_limits", S::BAD_REQUEST, w.too_large),
            Code::TooManyObjects => ("too_many_objects", S::BAD_REQUEST, w.too_large),
            Code::InvalidJson => ("invalid_json", S::BAD_REQUEST, w.bad_request),
            Code::InvalidPath => ("invalid_path", S::BAD_REQUEST, w.bad_request),
            Code::InvalidQuery => ("invalid_query", S::BAD_REQUEST, w.bad_request),
            Code::NotFound => ("not_found", S::NOT_FOUND, w.not_found),
            Code::MethodNotAllowed => ("method_not_allowed", S::METHOD_NOT_ALLOWED, w.not_allowed),
            Code::PayloadTooLarge => ("payload_too_large", S::PAYLOAD_TOO_LARGE, w.too_large),
            Code::UnsupportedMediaType => (
                "unsupported_media_type",
                S::UNSUPPORTED_MEDIA_TYPE,
                w.bad_request,
            ),
            Code::AdminDisabled => ("admin_disabled", S::FORBIDDEN, w.not_allowed),
            Code::RateLimited => ("rate_limited", S::TOO_MANY_REQUESTS, w.rate_limited),
            Code::CsrfInvalid => ("csrf_invalid", S::FORBIDDEN, w.csrf_invalid),
            Code::RequestExpired => ("request_expired", S::BAD_REQUEST, w.request_expired),
            Code::Unavailable => ("unavailable", S::SERVICE_UNAVAILABLE, w.unavailable),
            Code::Overloaded => ("overloaded", S::SERVICE_UNAVAILABLE, w.unavailable),
            Code::InternalError => ("internal_error", S::INTERNAL_SERVER_ERROR, w.internal_error),
        }
    }

    /// The stable snake_case name clients switch on.
    pub fn as_str(self) -> &'static str {
        self.entry(&words().error).0
    }

    pub fn status(self) -> StatusCode {
        self.entry(&words().error).1
    }

    /// What the code means to a person, for the hosted pages.
    pub fn words(self) -> &'static str {
        self.entry(&words().error).2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ALL` holds every code once, in declaration order (each at the index of its
    /// discriminant: nothing skipped, nothing repeated), and their names are distinct.
    #[test]
    fn all_lists_every_code_once() {
        for (i, code) in Code::ALL.iter().enumerate() {
            assert_eq!(*code as usize, i, "{code:?}");
        }
        let names: std::collections::HashSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), Code::ALL.len());
    }

    #[test]
    fn names_are_snake_case_and_kept() {
        assert_eq!(Code::InvalidCredentials.as_str(), "invalid_credentials");
        assert_eq!(Code::SiweChainNotAllowed.as_str(), "siwe_chain_not_allowed");
        assert_eq!(
            Code::InternalError.status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(Code::RateLimited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(Code::InvalidCredentials.words().contains("don't match"));
        assert!(Code::CodeInvalid.words().starts_with("That code is wrong"));
    }
}
