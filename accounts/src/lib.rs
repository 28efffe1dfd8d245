//! User pools: accounts, their credentials (email, password, wallets, federated identities,
//! second factors and passkeys), upstream identity providers (`idp`), sessions as
//! refresh-token families, one-time codes, pool policies, the audit log and the mail outbox,
//! with their persistence on SQLite and PostgreSQL.
//!
//! This crate knows nothing of HTTP: the gateway parses requests, calls [`UserPool`] and maps
//! [`Error`] to answers. Time is always passed in (`now`); only the gateway reads the clock.

pub mod clients;
mod error;
pub mod hooks;
pub mod idp;
mod legacy_hash;
pub mod mail;
pub mod password;
pub mod policy;
#[cfg(feature = "schema")]
mod schema;
pub mod secret;
mod service;
pub mod storage_role;
pub mod store;
pub mod totp;
mod types;

pub use error::Error;
pub use service::{
    AccountExport, AccountView, ActiveHook, Actor, AuditView, ClientGrant, CredentialsView,
    DEFAULT_POOL, EmailView, FactorView, Federated, GroupChange, HookView, IdentityView, IdpView,
    Imported, Issued, LineRefusal, LineWallet, MfaChallenge, MfaView, MigratedUser, NewPasskey,
    NewSessionRequest, NewUser, Origin, PASSKEY_NAME_MAX, PasskeyView, PasswordChange,
    ProvenWallet, SessionView, SignIn, TotpEnrolment, Upstream, UserLine, UserMigration, UserPatch,
    UserPool, WalletView, config_from_json, is_pool_name, merge_patch, parse_wallet,
};
pub use types::{AccountId, AccountStatus, Email, PoolId, SessionId};

pub type Result<T, E = Error> = std::result::Result<T, E>;
