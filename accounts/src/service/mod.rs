//! The user-pool operations the gateway calls, one module per flow. Each validates its
//! input, does the slow work (argon2) outside any transaction, then hands the store one
//! transactional change with its audit row and mail.

mod account_data;
mod admin_users;
mod authorizations;
mod clients;
mod factors;
mod federation;
mod groups;
mod hooks;
mod import;
mod mfa;
mod migration;
mod origins;
mod passkeys;
mod pools;
mod profile;
mod recovery;
mod sessions;
mod signup;
mod wallets;

use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use wallet::{Address, Caip10, WalletKind};

use crate::mail::{Mail, Sealed};
use crate::password::PasswordHasher;
use crate::policy::{self, PoolConfig};
use crate::secret::{MasterKey, Secret, random_token};
use crate::store::{
    AccountBundle, AuditEvent, CodeAttempt, CodePurpose, DynStore, NewCode, NewSession, OutboxMail,
    PoolRecord, SessionRecord,
};
use crate::{AccountId, AccountStatus, Email, Error, PoolId, SessionId};

pub use account_data::{AccountExport, AuditView, SessionView};
pub use admin_users::{NewUser, UserPatch, parse_wallet};
pub use authorizations::ClientGrant;
pub use federation::{Federated, IdentityView, IdpView, Upstream};
pub use groups::GroupChange;
pub use hooks::{ActiveHook, HookView};
pub use import::{Imported, LineRefusal, LineWallet, UserLine};
pub use mfa::{FactorView, MfaChallenge, MfaView, SignIn, TotpEnrolment};
pub use migration::{MigratedUser, UserMigration};
pub use origins::Origin;
pub use passkeys::{NewPasskey, PASSKEY_NAME_MAX, PasskeyView};
pub use pools::{DEFAULT_POOL, config_from_json, is_pool_name, merge_patch};
pub use profile::PasswordChange;
pub(crate) use profile::validate_attributes;
pub use wallets::ProvenWallet;

/// The user-pool service: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct UserPool {
    store: DynStore,
    hasher: PasswordHasher,
    master: Arc<MasterKey>,
    /// The breach corpus new passwords are checked against, and sign-ins per the pool's
    /// `compromised_passwords` (none: only the built-in list of common passwords).
    breached: Option<Arc<dyn crate::password::BreachedPasswords>>,
}

/// Who made a change an operator or the owner asked for, as the audit log names them:
/// `root` (the admin token), `client:{id}` (an admin client's token), `cli` (the `gatehouse`
/// command on the box), `self` (the account).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    Root,
    Client(String),
    Cli,
    Owner,
}

impl Serialize for Actor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Actor::Root => s.serialize_str("root"),
            Actor::Client(id) => s.serialize_str(&format!("client:{id}")),
            Actor::Cli => s.serialize_str("cli"),
            Actor::Owner => s.serialize_str("self"),
        }
    }
}

/// Who is opening a session (the app client, when known).
#[derive(Clone, Debug, Default)]
pub struct NewSessionRequest {
    pub client_id: Option<String>,
    /// The `User-Agent` it comes from (cut to 256 characters when stored).
    pub user_agent: Option<String>,
}

/// The longest `User-Agent` kept with a session, in characters.
pub const USER_AGENT_MAX_CHARS: usize = 256;

impl NewSessionRequest {
    /// A request from this `User-Agent` (none for the direct API without one).
    pub fn from_agent(user_agent: Option<&str>) -> Self {
        NewSessionRequest {
            client_id: None,
            user_agent: user_agent.map(|ua| ua.chars().take(USER_AGENT_MAX_CHARS).collect()),
        }
    }
}

/// A successful sign-in: the account, its new or continued session and the refresh token.
#[derive(Debug)]
pub struct Issued {
    pub account: AccountView,
    pub session: SessionRecord,
    pub refresh_token: Secret,
}

/// The account as clients see it (`GET /v1/me`) and as tokens describe it.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct AccountView {
    pub sub: AccountId,
    pub status: AccountStatus,
    pub attributes: serde_json::Map<String, Value>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub groups: Vec<String>,
    #[cfg_attr(feature = "schema", schema(value_type = Vec<String>))]
    pub wallets: Vec<Caip10>,
    pub credentials: CredentialsView,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct CredentialsView {
    pub email: Option<EmailView>,
    pub password: Option<PasswordView>,
    pub wallets: Vec<WalletView>,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct WalletView {
    /// As linked: the chain of the linking message.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub caip10: Caip10,
    /// EIP-55.
    #[cfg_attr(feature = "schema", schema(value_type = String))]
    pub address: Address,
    /// `eoa` (valid on every chain, `chain_id` 0) or `contract` (on `chain_id` only).
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::wallet_kind))]
    pub kind: WalletKind,
    pub chain_id: i64,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct EmailView {
    pub address: String,
    pub verified: bool,
    pub created_at: i64,
    pub verified_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct PasswordView {
    pub created_at: i64,
    pub updated_at: i64,
    pub last_used_at: Option<i64>,
}

impl From<AccountBundle> for AccountView {
    fn from(b: AccountBundle) -> Self {
        let email = b.email.map(|e| EmailView {
            verified: e.verified_at.is_some(),
            address: e.email,
            created_at: e.created_at,
            verified_at: e.verified_at,
            last_used_at: e.last_used_at,
        });
        AccountView {
            sub: b.account.id,
            status: b.account.status,
            attributes: b.account.attributes,
            email: email.as_ref().map(|e| e.address.clone()),
            email_verified: email.as_ref().is_some_and(|e| e.verified),
            groups: b.groups,
            wallets: b.wallets.iter().map(|w| w.caip10).collect(),
            credentials: CredentialsView {
                email,
                password: b.password.map(|p| PasswordView {
                    created_at: p.created_at,
                    updated_at: p.updated_at,
                    last_used_at: p.last_used_at,
                }),
                wallets: b
                    .wallets
                    .into_iter()
                    .map(|w| WalletView {
                        chain_id: w.chain_id,
                        caip10: w.caip10,
                        address: w.address,
                        kind: w.kind,
                        created_at: w.created_at,
                        last_used_at: w.last_used_at,
                    })
                    .collect(),
            },
            created_at: b.account.created_at,
            updated_at: b.account.updated_at,
        }
    }
}

impl UserPool {
    pub fn new(store: DynStore, hasher: PasswordHasher, master: Arc<MasterKey>) -> Self {
        Self {
            store,
            hasher,
            master,
            breached: None,
        }
    }

    /// Checks new passwords (and sign-ins, per pool) against `corpus`.
    pub fn with_breached_passwords(
        mut self,
        corpus: Arc<dyn crate::password::BreachedPasswords>,
    ) -> Self {
        self.breached = Some(corpus);
        self
    }

    /// Whether the (normalised) password is in the breach corpus; false without one.
    async fn is_breached(&self, normalized: &str) -> Result<bool, Error> {
        match &self.breached {
            Some(corpus) => corpus.contains(normalized).await,
            None => Ok(false),
        }
    }

    pub fn store(&self) -> &DynStore {
        &self.store
    }

    /// Audits a storage grant: role, prefix, expiry, objects (never the signed URLs).
    pub async fn record_storage_grant(
        &self,
        pool: PoolId,
        account: AccountId,
        detail: Value,
        now: i64,
    ) -> Result<(), Error> {
        let audit = Self::audit(pool, Some(account), "storage_grant", detail, now);
        self.store.record(&audit, None).await
    }

    fn audit(
        pool: PoolId,
        account: Option<AccountId>,
        kind: &'static str,
        detail: Value,
        now: i64,
    ) -> AuditEvent {
        AuditEvent {
            pool_id: pool,
            account_id: account,
            kind,
            detail,
            created_at: now,
        }
    }

    fn outbox(
        &self,
        pool: &PoolRecord,
        to: &str,
        mail: Mail,
        now: i64,
    ) -> Result<OutboxMail, Error> {
        let kind = mail.kind();
        let sealed = Sealed::Letter {
            pool_name: pool.config.display_name.clone(),
            mail,
        };
        let json = serde_json::to_vec(&sealed).map_err(|_| Error::Crypto)?;
        Ok(OutboxMail {
            id: uuid::Uuid::new_v4(),
            pool_id: pool.id,
            recipient: to.to_string(),
            kind,
            body_sealed: self.master.seal("mail", &json)?,
            created_at: now,
        })
    }

    /// A keyed hash (HMAC with the master key, hex) for the gateway's own tokens: browser
    /// session cookies, CSRF tokens, look-up keys of authorization codes. `purpose`
    /// separates the uses.
    pub fn mac(&self, purpose: &str, value: &str) -> String {
        self.master.hash(purpose, value)
    }

    /// Opens a sealed outbox body (for the delivery worker, which writes it out).
    /// Seals a hook notification's body for the outbox (it names the account and its email).
    pub fn seal_hook_event(&self, plain: &[u8]) -> Result<Vec<u8>, Error> {
        self.master.seal("hook_event", plain)
    }

    pub fn open_hook_event(&self, sealed: &[u8]) -> Result<Vec<u8>, Error> {
        self.master.open("hook_event", sealed)
    }

    pub fn open_mail(&self, sealed: &[u8]) -> Result<Sealed, Error> {
        let plain = self.master.open("mail", sealed)?;
        serde_json::from_slice(&plain).map_err(|_| Error::Crypto)
    }

    fn code_hash(&self, account: AccountId, purpose: CodePurpose, code: &str) -> String {
        self.master.hash(
            &format!("code:{}", purpose.as_str()),
            &format!("{account}:{code}"),
        )
    }

    fn attempt<'a>(
        pool: &PoolRecord,
        account: AccountId,
        purpose: CodePurpose,
        code_hash: &'a str,
        now: i64,
    ) -> CodeAttempt<'a> {
        CodeAttempt {
            account,
            purpose,
            code_hash,
            now,
            max_attempts: pool.config.code_max_attempts,
        }
    }

    fn refresh_hash(&self, token: &str) -> String {
        self.master.hash("refresh", token)
    }

    /// A fresh code for `purpose`, and its row.
    fn new_code(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        purpose: CodePurpose,
        payload: Option<String>,
        now: i64,
    ) -> (Secret, NewCode) {
        let code = crate::secret::random_code();
        let row = NewCode {
            account_id: account,
            purpose,
            code_hash: self.code_hash(account, purpose, code.expose()),
            payload,
            expires_at: now + pool.config.code_ttl,
            created_at: now,
        };
        (code, row)
    }

    /// A new session (refresh-token family) for `account`, not yet stored.
    fn new_session(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        amr: &[&str],
        req: &NewSessionRequest,
        now: i64,
    ) -> (Secret, NewSession) {
        let token = random_token();
        let session = SessionRecord {
            id: SessionId::new(),
            pool_id: pool.id,
            account_id: account,
            client_id: req.client_id.clone(),
            amr: amr.iter().map(|s| s.to_string()).collect(),
            wallet: None,
            auth_time: now,
            created_at: now,
            expires_at: now + pool.config.refresh_token_ttl,
            last_used_at: now,
            revoked_at: None,
            scope: None,
            parent_id: None,
            user_agent: req.user_agent.clone(),
        };
        let new = NewSession {
            refresh_hash: self.refresh_hash(token.expose()),
            session,
        };
        (token, new)
    }

    /// Normalises and checks a new password against the pool's policy, then hashes it.
    async fn new_password_hash(
        &self,
        config: &PoolConfig,
        email: Option<&Email>,
        raw: &str,
    ) -> Result<String, Error> {
        let normalized = policy::normalize_password(raw);
        policy::check_password(&normalized, email, config.password_min_length)?;
        if self.is_breached(&normalized).await? {
            return Err(Error::PasswordCompromised);
        }
        self.hasher.hash(&Secret::new(normalized)).await
    }

    async fn verify_password(&self, raw: &str, phc: Option<&str>) -> Result<bool, Error> {
        self.hasher
            .verify(&Secret::new(policy::normalize_password(raw)), phc)
            .await
    }

    /// The account behind an access token, if it still exists in this pool.
    pub async fn account(
        &self,
        pool: &PoolRecord,
        account: AccountId,
    ) -> Result<AccountView, Error> {
        let bundle = self
            .store
            .find_account(pool.id, account)
            .await?
            .ok_or(Error::AccountNotFound)?;
        Ok(bundle.into())
    }

    /// A session that is still live (not revoked, not past its absolute expiry).
    pub async fn live_session(
        &self,
        session: SessionId,
        now: i64,
    ) -> Result<Option<SessionRecord>, Error> {
        Ok(self
            .store
            .find_session(session)
            .await?
            .filter(|s| s.revoked_at.is_none() && s.expires_at > now))
    }
}
