//! The domain's errors. The gateway maps each one to an HTTP answer with a stable `code`.

/// Everything that can go wrong in a user-pool operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the email address is not valid")]
    InvalidEmail,
    #[error("the password must be at least {min} characters long")]
    PasswordTooShort { min: usize },
    #[error("the password must be at most {max} characters long")]
    PasswordTooLong { max: usize },
    #[error("the password is too common")]
    PasswordTooCommon,
    #[error("the password must not be the email address or its local part")]
    PasswordMatchesEmail,
    #[error("the email or password is wrong")]
    InvalidCredentials,
    #[error("the code is wrong, expired or already used")]
    CodeInvalid,
    #[error("the refresh token is not valid")]
    InvalidRefreshToken,
    #[error("the current password is required")]
    CurrentPasswordRequired,
    #[error(
        "this change needs a recent sign-in: sign in again (within 15 minutes) or give the current password"
    )]
    ReauthenticationRequired,
    #[error("the email address is used by another account")]
    EmailTaken,
    #[error("the attributes are not valid: {0}")]
    InvalidAttributes(String),
    #[error("the account is disabled")]
    AccountDisabled,
    #[error("no such account")]
    AccountNotFound,
    #[error("the wallet is linked to another account")]
    WalletAlreadyLinked,
    #[error("the wallet is not linked to this account")]
    WalletNotFound,
    #[error("the last credential that can sign in cannot be removed")]
    LastCredential,
    #[error("no such pool")]
    PoolNotFound,
    /// What the request wrote into was deleted meanwhile (a pool another instance still had
    /// in its cache, an account deleted during the request): a foreign key refused it.
    #[error("the pool or account was deleted meanwhile")]
    Deleted,
    #[error("a pool with that name exists")]
    PoolExists,
    #[error("the pool has accounts: delete them first, or delete with force")]
    PoolNotEmpty,
    #[error("the default pool cannot be deleted")]
    PoolProtected,
    #[error("the resource changed since it was read (If-Match): read it again")]
    VersionMismatch,
    #[error("a group with that name exists")]
    GroupExists,
    #[error("no such group")]
    GroupNotFound,
    #[error("the group is not valid: {0}")]
    InvalidGroup(String),
    #[error("the pool configuration is not valid: {0}")]
    InvalidPoolConfig(String),
    #[error("the client is not valid: {0}")]
    InvalidClient(String),
    #[error("no such client")]
    ClientNotFound,
    #[error("that second factor is already enrolled; remove it first")]
    MfaAlreadyEnrolled,
    #[error("that second factor is not enrolled")]
    MfaNotEnrolled,
    #[error("the pool does not allow that second factor")]
    FactorNotAllowed,
    #[error("the pool requires a second factor: the last one cannot be removed")]
    LastFactor,
    #[error("the code is wrong or already used")]
    MfaCodeInvalid,
    #[error("the challenge is unknown, expired, answered or from another pool")]
    MfaSessionInvalid,
    #[error("email codes need a verified email")]
    EmailUnverified,
    #[error("the password appeared in a data breach; choose another")]
    PasswordCompromised,
    #[error("the password appeared in a data breach: set a new one through recovery")]
    PasswordResetRequired,
    #[error("no such passkey")]
    PasskeyNotFound,
    #[error("the passkey was not accepted")]
    PasskeyInvalid,
    #[error("the identity provider configuration is not valid: {0}")]
    InvalidIdpConfig(String),
    #[error("no such identity provider")]
    IdpNotFound,
    #[error("an identity provider with that name exists")]
    IdpExists,
    #[error("accounts sign in with this identity provider: disable it, or unlink them first")]
    IdpInUse,
    #[error("that identity is linked to another account")]
    IdentityTaken,
    #[error("no identity of that provider is linked to this account")]
    IdentityNotFound,
    #[error("the hook configuration is not valid: {0}")]
    InvalidHookConfig(String),
    #[error("no such hook")]
    HookNotFound,
    #[error("the pool has a hook of that name or for that trigger")]
    HookExists,
    /// A `pre_sign_up` hook refused the sign-up; its message is shown to the person.
    #[error("{0}")]
    SignUpDenied(String),
    /// A `pre_authentication` hook refused the sign-in: answered as a wrong password on the
    /// API, its message said on the hosted page.
    #[error("{0}")]
    SignInDenied(String),
    /// A hook whose failure policy is `fail_closed` timed out, failed or answered what its
    /// trigger does not allow.
    #[error("a hook of this pool failed; try again later")]
    HookFailed,
    /// An account with that id exists (an import's `sub`).
    #[error("an account with that id exists")]
    AccountExists,
    #[error("storage failure: {0}")]
    Store(String),
    /// A backing service (the database, Redis) cannot be reached or did not answer in
    /// time: the request may be tried again later, nothing was committed.
    #[error("a backing service is unavailable: {0}")]
    Unavailable(String),
    /// This instance is at capacity for the work named (requests in flight, password hashes
    /// waiting): refused at once, nothing done, to be tried again in a moment.
    #[error("at capacity: {0}")]
    Overloaded(&'static str),
    #[error("ephemeral store failure: {0}")]
    Ephemeral(String),
    #[error("cryptographic failure")]
    Crypto,
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Error::Unavailable(format!("database: {e}")),
            sqlx::Error::Database(ref d) if d.is_foreign_key_violation() => Error::Deleted,
            _ => Error::Store(e.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Error::Store(e.to_string())
    }
}
