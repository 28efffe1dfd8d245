//! The SQL stores. PostgreSQL and SQLite accept the same SQL here (`$n` parameters,
//! `ON CONFLICT`, `RETURNING`), so one macro writes both implementations from one text and
//! each backend keeps its own pool, its own migrations and its own transaction start:
//! SQLite begins `IMMEDIATE` so a read-then-write transaction never fails on lock upgrade.

use async_trait::async_trait;
use serde_json::{Map, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::{AccountStatus, Email};

mod account_impls;
mod client_impls;
mod directory_impls;
mod federation_impls;
mod hook_impls;
mod infra_impls;
mod mfa_impls;
mod session_impls;

/// Opens the store named by `url` (`postgres://…` or `sqlite://…`) and runs migrations.
pub async fn connect(url: &str) -> Result<DynStore, Error> {
    connect_with_replica(url, None).await
}

/// [`connect`], with listings that may lag (admin searches and pages, the audit log, the
/// outbox's depth) read from `read_url`, a PostgreSQL replica of `url`; everything that
/// decides (sessions and their revocation, refresh rotation, codes, keys, credentials,
/// hooks, clients) and everything that writes stays on the primary. The replica is not
/// migrated: it follows the primary's schema.
pub async fn connect_with_replica(url: &str, read_url: Option<&str>) -> Result<DynStore, Error> {
    let postgres = |u: &str| u.starts_with("postgres://") || u.starts_with("postgresql://");
    if read_url.is_some_and(|r| !postgres(r) || !postgres(url)) {
        return Err(Error::Store(
            "a read replica (GATEHOUSE_DATABASE_READ_URL) is a postgres:// URL beside a postgres:// DATABASE_URL".into(),
        ));
    }
    if postgres(url) {
        // A database that went away (a restart, a failover) costs a request at most this
        // long before it answers 503: new connections are tried until then, and the pool
        // heals by itself once the server answers again.
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        let read = match read_url {
            Some(r) => {
                PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(5))
                    .after_connect(|c, _| {
                        // Never a write through the replica's pool, even by mistake.
                        Box::pin(async move {
                            sqlx::query("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                                .execute(c)
                                .await
                                .map(|_| ())
                        })
                    })
                    .connect(r)
                    .await?
            }
            None => pool.clone(),
        };
        Ok(Arc::new(PgStore { pool, read }))
    } else if url.starts_with("sqlite:") {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        // Processes opening one database file together open and migrate it one at a time
        // (sqlx's migrator takes PostgreSQL's advisory lock, and no lock on SQLite): an
        // exclusive lock on a file beside the database, held from the first connection (which
        // switches a new file to WAL, a change the busy timeout does not wait through) until
        // the migrations ran. Waiting for the lock blocks: off the runtime's threads
        // (instances in one process, as in the tests, must not stall the one that holds it).
        let lock_url = url.to_string();
        let guard = tokio::task::spawn_blocking(move || migration_lock(&lock_url))
            .await
            .map_err(|e| Error::Store(format!("the migration lock: {e}")))??;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            // An embedded database has no connection to lose: a ping before every acquire
            // would be one more hand-off to the worker thread per statement.
            .test_before_acquire(false)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        drop(guard);
        Ok(Arc::new(SqliteStore {
            read: pool.clone(),
            pool,
        }))
    } else {
        Err(Error::Store(
            "DATABASE_URL must start with postgres:// or sqlite:".into(),
        ))
    }
}

/// The lock file of a SQLite database's migrations (`{file}.migrate.lock`), locked; none
/// for an in-memory database.
fn migration_lock(url: &str) -> Result<Option<std::fs::File>, Error> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") {
        return Ok(None);
    }
    let failed = |e: std::io::Error| Error::Store(format!("the migration lock: {e}"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(format!("{path}.migrate.lock"))
        .map_err(failed)?;
    file.lock().map_err(failed)?;
    Ok(Some(file))
}

/// A named unique constraint and the columns SQLite names instead (it reports
/// `UNIQUE constraint failed: table.col, …`, without the constraint's name).
struct Unique {
    constraint: &'static str,
    sqlite_columns: &'static str,
}

const EMAIL_KEY: Unique = Unique {
    constraint: "email_credential_pool_email_key",
    sqlite_columns: "email_credential.pool_id, email_credential.email_normalized",
};
const WALLET_KEY: Unique = Unique {
    constraint: "wallet_credential_pool_wallet_key",
    sqlite_columns: "wallet_credential.pool_id, wallet_credential.chain_id, wallet_credential.address_key",
};

const PASSKEY_KEY: Unique = Unique {
    constraint: "passkey_pool_credential_key",
    sqlite_columns: "passkey.pool_id, passkey.credential_id",
};

const IDENTITY_KEY: Unique = Unique {
    constraint: "federated_identity_pool_subject_key",
    sqlite_columns: "federated_identity.pool_id, federated_identity.provider, federated_identity.subject",
};

const IDP_KEY: Unique = Unique {
    constraint: "identity_provider_pkey",
    sqlite_columns: "identity_provider.pool_id, identity_provider.name",
};

const HOOK_KEY: Unique = Unique {
    constraint: "hook_pkey",
    sqlite_columns: "hook.pool_id, hook.name",
};
const HOOK_TRIGGER_KEY: Unique = Unique {
    constraint: "hook_pool_trigger_key",
    sqlite_columns: "hook.pool_id, hook.hook_trigger",
};

const LIVE_KEY: Unique = Unique {
    constraint: "signing_key_live_key",
    sqlite_columns: "signing_key.pool_id, signing_key.alg",
};

const ACCOUNT_KEY: Unique = Unique {
    constraint: "account_pkey",
    sqlite_columns: "account.id",
};

const POOL_NAME_KEY: Unique = Unique {
    constraint: "pool_name_key",
    sqlite_columns: "pool.name",
};
const GROUP_NAME_KEY: Unique = Unique {
    constraint: "account_group_pool_name_key",
    sqlite_columns: "account_group.pool_id, account_group.name",
};

/// Whether `e` violates exactly `key` (another unique violation is a bug, not a conflict).
fn violates(e: &sqlx::Error, key: &Unique) -> bool {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => match d.constraint() {
            Some(name) => name == key.constraint,
            None => d.message().contains(key.sqlite_columns),
        },
        _ => false,
    }
}

/// Marks a refresh token used, if it belongs to a session of this pool and client. A
/// correlated EXISTS: one primary-key probe of `session` (`IN (SELECT …)` made SQLite scan
/// every session of the pool).
pub const ROTATE_MARK: &str = "UPDATE refresh_token SET used_at = $2 WHERE token_hash = $1 \
    AND used_at IS NULL AND EXISTS (SELECT 1 FROM session s WHERE s.id = refresh_token.session_id \
    AND s.pool_id = $3 AND s.client_id IS NOT DISTINCT FROM $4) RETURNING session_id, generation";
/// Ends the sessions of a deleted client (through `session_client_idx`).
pub const REVOKE_CLIENT_SESSIONS: &str = "UPDATE session SET revoked_at = $3, \
    revoked_reason = 'client_deleted' WHERE client_id = $2 AND pool_id = $1 AND revoked_at IS NULL";
/// Leases due mail, oldest first, walking `mail_outbox_claim_idx` in order (no sort).
pub const CLAIM_MAIL: &str = "UPDATE mail_outbox SET locked_until = $2, attempts = attempts + 1 \
    WHERE id IN (SELECT id FROM mail_outbox WHERE status = 'pending' \
      AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1) \
      ORDER BY created_at LIMIT $3) \
    AND status = 'pending' AND (locked_until IS NULL OR locked_until <= $1) \
    RETURNING id, pool_id, recipient, kind, body_sealed, attempts";
/// The outbox's depth, counted on `mail_outbox_claim_idx` (its leading column is `status`).
pub const COUNT_PENDING_MAIL: &str = "SELECT COUNT(*) FROM mail_outbox WHERE status = 'pending'";

/// The purge's statements: one batch each, `$1` the cut-off, `$2` the batch size. Public so
/// that the query-plan test checks these very texts.
pub const PURGE_SESSIONS: &str = "DELETE FROM session WHERE id IN \
    (SELECT id FROM session WHERE expires_at < $1 LIMIT $2)";
pub const PURGE_CODES: &str = "DELETE FROM verification_code WHERE id IN \
    (SELECT id FROM verification_code WHERE expires_at < $1 LIMIT $2)";
pub const PURGE_UNDO_LINKS: &str = "DELETE FROM email_change_undo WHERE token_hash IN \
    (SELECT token_hash FROM email_change_undo WHERE expires_at < $1 LIMIT $2)";
pub const PURGE_PENDING_ACCOUNTS: &str = "DELETE FROM account WHERE id IN \
    (SELECT id FROM account WHERE status = 'pending' AND created_at < $1 LIMIT $2)";
pub const PURGE_SENT_MAIL: &str = "DELETE FROM mail_outbox WHERE id IN \
    (SELECT id FROM mail_outbox WHERE status = 'sent' AND created_at < $1 LIMIT $2)";
pub const PURGE_FAILED_MAIL: &str = "DELETE FROM mail_outbox WHERE id IN \
    (SELECT id FROM mail_outbox WHERE status = 'failed' AND created_at < $1 LIMIT $2)";
pub const PURGE_AUDIT: &str = "DELETE FROM audit_event WHERE id IN \
    (SELECT id FROM audit_event WHERE created_at < $1 LIMIT $2)";
/// One pool's audit events before `$2` (a pool's own retention), `$3` at a time.
pub const PURGE_POOL_AUDIT: &str = "DELETE FROM audit_event WHERE id IN \
    (SELECT id FROM audit_event WHERE pool_id = $1 AND created_at < $2 LIMIT $3)";
/// A page of a pool's audit log, newest first below id `$6`, walking `audit_event_pool_idx`.
pub const LIST_AUDIT: &str = "SELECT id, account_id, kind, detail, created_at FROM audit_event \
    WHERE pool_id = $1 AND ($2 IS NULL OR account_id = $2) \
    AND ($3 IS NULL OR kind = $3) AND ($4 IS NULL OR created_at >= $4) \
    AND ($5 IS NULL OR created_at < $5) AND id < $6 ORDER BY id DESC LIMIT $7";

fn corrupt(what: &str) -> Error {
    Error::Store(format!("corrupt {what} row"))
}

fn id<T>(s: &str, f: impl Fn(&str) -> Option<T>, what: &str) -> Result<T, Error> {
    f(s).ok_or_else(|| corrupt(what))
}

#[derive(sqlx::FromRow)]
struct PoolRow {
    id: String,
    name: String,
    config: String,
    created_at: i64,
    version: i64,
    updated_at: i64,
}

/// The columns of a `PoolRow`.
const POOL_COLS: &str = "id, name, config, created_at, version, updated_at";

impl PoolRow {
    fn into_record(self) -> Result<PoolRecord, Error> {
        Ok(PoolRecord {
            id: id(&self.id, PoolId::parse, "pool")?,
            name: self.name,
            config: serde_json::from_str(&self.config).map_err(|_| corrupt("pool config"))?,
            created_at: self.created_at,
            version: self.version,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: String,
    pool_id: String,
    name: String,
    description: String,
    precedence: i64,
    created_at: i64,
    updated_at: i64,
}

/// The columns of a `GroupRow`.
const GROUP_COLS: &str = "id, pool_id, name, description, precedence, created_at, updated_at";

impl GroupRow {
    fn into_record(self) -> Result<GroupRecord, Error> {
        Ok(GroupRecord {
            id: id(&self.id, |s| uuid::Uuid::parse_str(s).ok(), "group")?,
            pool_id: id(&self.pool_id, PoolId::parse, "group")?,
            name: self.name,
            description: self.description,
            precedence: self.precedence,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    pool_id: String,
    name: String,
    public: bool,
    secret_hash: Option<String>,
    redirect_uris: String,
    config: String,
    created_at: i64,
}

impl ClientRow {
    fn into_record(self) -> Result<ClientRecord, Error> {
        Ok(ClientRecord {
            pool_id: id(&self.pool_id, PoolId::parse, "client pool")?,
            id: self.id,
            name: self.name,
            public: self.public,
            secret_hash: self.secret_hash,
            redirect_uris: serde_json::from_str(&self.redirect_uris)
                .map_err(|_| corrupt("client redirect URIs"))?,
            config: serde_json::from_str(&self.config).map_err(|_| corrupt("client config"))?,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct BundleRow {
    id: String,
    pool_id: String,
    status: String,
    attributes: String,
    created_at: i64,
    updated_at: i64,
    email: Option<String>,
    email_verified_at: Option<i64>,
    email_created_at: Option<i64>,
    email_last_used_at: Option<i64>,
    password_hash: Option<String>,
    password_created_at: Option<i64>,
    password_updated_at: Option<i64>,
    password_last_used_at: Option<i64>,
    /// The account's wallets as a JSON array of rows (see each backend's `WALLETS_JSON`), so
    /// that an account and its wallets are one statement.
    wallets: Option<String>,
    /// The account's group names as a JSON array (see each backend's `GROUPS_JSON`).
    groups: Option<String>,
}

/// One wallet as `WALLETS_JSON` writes it: the columns of `WalletRow`, in order.
type WalletJson = (String, i64, String, String, String, i64, i64, Option<i64>);

const BUNDLE_SELECT: &str = "SELECT a.id, a.pool_id, a.status, a.attributes, a.created_at, a.updated_at, \
     e.email, e.verified_at AS email_verified_at, e.created_at AS email_created_at, \
     e.last_used_at AS email_last_used_at, p.hash AS password_hash, \
     p.created_at AS password_created_at, p.updated_at AS password_updated_at, \
     p.last_used_at AS password_last_used_at, ";
const BUNDLE_FROM: &str = " FROM account a LEFT JOIN email_credential e ON e.account_id = a.id \
     LEFT JOIN password_credential p ON p.account_id = a.id ";

impl BundleRow {
    fn into_bundle(self) -> Result<AccountBundle, Error> {
        let attributes: Map<String, Value> =
            serde_json::from_str(&self.attributes).map_err(|_| corrupt("account attributes"))?;
        Ok(AccountBundle {
            account: AccountRecord {
                id: id(&self.id, AccountId::parse, "account")?,
                pool_id: id(&self.pool_id, PoolId::parse, "account")?,
                status: AccountStatus::parse(&self.status).ok_or_else(|| corrupt("account"))?,
                attributes,
                created_at: self.created_at,
                updated_at: self.updated_at,
            },
            email: self.email.map(|email| EmailRecord {
                email,
                verified_at: self.email_verified_at,
                created_at: self.email_created_at.unwrap_or_default(),
                last_used_at: self.email_last_used_at,
            }),
            password: self.password_hash.map(|hash| PasswordRecord {
                hash,
                created_at: self.password_created_at.unwrap_or_default(),
                updated_at: self.password_updated_at.unwrap_or_default(),
                last_used_at: self.password_last_used_at,
            }),
            wallets: match self.wallets.as_deref() {
                None => Vec::new(),
                Some(json) => serde_json::from_str::<Vec<WalletJson>>(json)
                    .map_err(|_| corrupt("account wallets"))?
                    .into_iter()
                    .map(|w| {
                        WalletRecord::try_from(WalletRow {
                            kind: w.0,
                            chain_id: w.1,
                            address: w.2,
                            caip10: w.4,
                            created_at: w.5,
                            verified_at: w.6,
                            last_used_at: w.7,
                        })
                    })
                    .collect::<Result<_, _>>()?,
            },
            groups: match self.groups.as_deref() {
                None => Vec::new(),
                Some(json) => serde_json::from_str(json).map_err(|_| corrupt("account groups"))?,
            },
        })
    }
}

/// A `wallet_credential` row as stored; `address_key` is `address` in lowercase and is
/// not read back.
struct WalletRow {
    kind: String,
    chain_id: i64,
    address: String,
    caip10: String,
    created_at: i64,
    verified_at: i64,
    last_used_at: Option<i64>,
}

impl TryFrom<WalletRow> for WalletRecord {
    type Error = Error;

    fn try_from(r: WalletRow) -> Result<Self, Error> {
        Ok(WalletRecord {
            kind: r.kind.parse().map_err(|_| corrupt("wallet kind"))?,
            chain_id: r.chain_id,
            address: r.address.parse().map_err(|_| corrupt("wallet address"))?,
            caip10: r.caip10.parse().map_err(|_| corrupt("wallet caip10"))?,
            created_at: r.created_at,
            verified_at: r.verified_at,
            last_used_at: r.last_used_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    pool_id: String,
    account_id: String,
    client_id: Option<String>,
    amr: String,
    wallet: Option<String>,
    auth_time: i64,
    created_at: i64,
    expires_at: i64,
    last_used_at: i64,
    revoked_at: Option<i64>,
    scope: Option<String>,
    parent_id: Option<String>,
    user_agent: Option<String>,
}

const SESSION_COLS: &str = "s.id, s.pool_id, s.account_id, s.client_id, s.amr, s.wallet, \
     s.auth_time, s.created_at, s.expires_at, s.last_used_at, s.revoked_at, s.scope, s.parent_id, s.user_agent";

impl SessionRow {
    fn into_record(self) -> Result<SessionRecord, Error> {
        Ok(SessionRecord {
            id: id(&self.id, SessionId::parse, "session")?,
            pool_id: id(&self.pool_id, PoolId::parse, "session")?,
            account_id: id(&self.account_id, AccountId::parse, "session")?,
            client_id: self.client_id,
            amr: serde_json::from_str(&self.amr).map_err(|_| corrupt("session amr"))?,
            wallet: self
                .wallet
                .map(|w| w.parse().map_err(|_| corrupt("session wallet")))
                .transpose()?,
            auth_time: self.auth_time,
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
            scope: self.scope,
            parent_id: self
                .parent_id
                .map(|p| id(&p, SessionId::parse, "session"))
                .transpose()?,
            user_agent: self.user_agent,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RotationRow {
    used_at: Option<i64>,
    generation: i32,
    #[sqlx(flatten)]
    session: SessionRow,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    pool_id: String,
    alg: String,
    private_sealed: Vec<u8>,
    public_jwk: String,
    created_at: i64,
    activates_at: i64,
    retires_at: Option<i64>,
}

impl KeyRow {
    fn into_record(self) -> Result<SigningKeyRecord, Error> {
        Ok(SigningKeyRecord {
            kid: self.kid,
            pool_id: id(&self.pool_id, PoolId::parse, "signing_key")?,
            alg: self.alg,
            private_sealed: self.private_sealed,
            public_jwk: serde_json::from_str(&self.public_jwk)
                .map_err(|_| corrupt("signing_key"))?,
            created_at: self.created_at,
            activates_at: self.activates_at,
            retires_at: self.retires_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct MailRow {
    id: String,
    pool_id: String,
    recipient: String,
    kind: String,
    body_sealed: Option<Vec<u8>>,
    attempts: i32,
}

fn json_text<T: serde::Serialize>(v: &T) -> Result<String, Error> {
    serde_json::to_string(v).map_err(|e| Error::Store(e.to_string()))
}

macro_rules! sql_store {
    ($store:ident, $db:ty, $begin:literal, $name:literal) => {
        pub struct $store {
            pub(super) pool: sqlx::Pool<$db>,
            /// Listings that may lag the primary (see [`connect_with_replica`]): the primary
            /// itself unless a replica was given.
            pub(super) read: sqlx::Pool<$db>,
        }

        type Conn = <$db as sqlx::Database>::Connection;

        /// The account, its credentials and its wallets where the filter holds: one
        /// statement each, written once (not on every sign-in).
        static BUNDLE_BY_EMAIL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!("{BUNDLE_SELECT}{WALLETS_JSON}, {GROUPS_JSON}{BUNDLE_FROM} WHERE e.pool_id = $1 AND e.email_normalized = $2")
        });
        static BUNDLE_BY_ID: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!("{BUNDLE_SELECT}{WALLETS_JSON}, {GROUPS_JSON}{BUNDLE_FROM} WHERE a.pool_id = $1 AND a.id = $2")
        });
        static BUNDLE_BY_WALLET: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "{BUNDLE_SELECT}{WALLETS_JSON}, {GROUPS_JSON}{BUNDLE_FROM} WHERE a.id = (SELECT account_id FROM \
                 wallet_credential WHERE pool_id = $1 AND chain_id = $2 AND address_key = $3)"
            )
        });

        impl $store {
            async fn begin(&self) -> Result<sqlx::Transaction<'static, $db>, Error> {
                Ok(self.pool.begin_with($begin).await?)
            }


            async fn insert_account(c: &mut Conn, account: &AccountRecord) -> Result<(), Error> {
                sqlx::query(
                    "INSERT INTO account (id, pool_id, status, attributes, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(account.id.to_string())
                .bind(account.pool_id.to_string())
                .bind(account.status.as_str())
                .bind(json_text(&account.attributes)?)
                .bind(account.created_at)
                .execute(&mut *c)
                .await
                .map_err(|e| if violates(&e, &ACCOUNT_KEY) { Error::AccountExists } else { e.into() })?;
                Ok(())
            }

            async fn wallet(c: &mut Conn, w: &NewWallet) -> Result<(), Error> {
                sqlx::query(
                    "INSERT INTO wallet_credential (id, pool_id, account_id, kind, chain_id, address, address_key, \
                     caip10, created_at, verified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                )
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(w.pool_id.to_string())
                .bind(w.account_id.to_string())
                .bind(w.kind.as_str())
                .bind(w.chain_id)
                .bind(w.caip10.address.to_string())
                .bind(w.caip10.address.key())
                .bind(w.caip10.to_string())
                .bind(w.now)
                .execute(&mut *c)
                .await
                .map_err(|e| if violates(&e, &WALLET_KEY) { Error::WalletAlreadyLinked } else { e.into() })?;
                Ok(())
            }

            async fn audit(c: &mut Conn, ev: &AuditEvent) -> Result<(), Error> {
                sqlx::query(
                    "INSERT INTO audit_event (pool_id, account_id, kind, detail, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(ev.pool_id.to_string())
                .bind(ev.account_id.map(|a| a.to_string()))
                .bind(ev.kind)
                .bind(json_text(&ev.detail)?)
                .bind(ev.created_at)
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            async fn mail(c: &mut Conn, m: &OutboxMail) -> Result<(), Error> {
                sqlx::query(
                    "INSERT INTO mail_outbox (id, pool_id, recipient, kind, body_sealed, status, \
                     attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
                )
                .bind(m.id.to_string())
                .bind(m.pool_id.to_string())
                .bind(&m.recipient)
                .bind(m.kind)
                .bind(&m.body_sealed)
                .bind(m.created_at)
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            async fn code(c: &mut Conn, code: &NewCode) -> Result<(), Error> {
                if code.purpose != CodePurpose::Signup {
                    sqlx::query("DELETE FROM verification_code WHERE account_id = $1 AND purpose = $2")
                        .bind(code.account_id.to_string())
                        .bind(code.purpose.as_str())
                        .execute(&mut *c)
                        .await?;
                } else {
                    // Sign-up codes accumulate (each bound to its sign-up's password), but at
                    // most MAX_SIGNUP_CODES live at once: each confirmation checks the
                    // password against every one of them.
                    sqlx::query(
                        "DELETE FROM verification_code WHERE account_id = $1 AND purpose = 'signup' \
                         AND id NOT IN (SELECT id FROM verification_code WHERE account_id = $1 \
                         AND purpose = 'signup' ORDER BY created_at DESC, id DESC LIMIT $2)",
                    )
                    .bind(code.account_id.to_string())
                    .bind(crate::store::MAX_SIGNUP_CODES - 1)
                    .execute(&mut *c)
                    .await?;
                }
                sqlx::query(
                    "INSERT INTO verification_code (id, account_id, purpose, code_hash, payload, attempts, \
                     expires_at, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $7)",
                )
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(code.account_id.to_string())
                .bind(code.purpose.as_str())
                .bind(&code.code_hash)
                .bind(&code.payload)
                .bind(code.expires_at)
                .bind(code.created_at)
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            async fn set_password(c: &mut Conn, account: AccountId, hash: &str, now: i64) -> Result<(), Error> {
                sqlx::query(
                    "INSERT INTO password_credential (account_id, hash, created_at, updated_at) \
                     VALUES ($1, $2, $3, $3) ON CONFLICT (account_id) DO UPDATE SET \
                     hash = excluded.hash, updated_at = excluded.updated_at",
                )
                .bind(account.to_string())
                .bind(hash)
                .bind(now)
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            async fn revoke(c: &mut Conn, account: AccountId, scope: RevokeScope, now: i64, reason: &str) -> Result<u64, Error> {
                if let RevokeScope::Tree(root) = scope {
                    // A browser session and the client sessions authorized from it.
                    let r = sqlx::query(
                        "UPDATE session SET revoked_at = $2, revoked_reason = $3 \
                         WHERE account_id = $1 AND revoked_at IS NULL AND (id = $4 OR parent_id = $4)",
                    )
                    .bind(account.to_string())
                    .bind(now)
                    .bind(reason)
                    .bind(root.to_string())
                    .execute(&mut *c)
                    .await?;
                    return Ok(r.rows_affected());
                }
                let keep = match scope {
                    RevokeScope::AllBut(s) => s.to_string(),
                    _ => String::new(),
                };
                let r = sqlx::query(
                    "UPDATE session SET revoked_at = $2, revoked_reason = $3 \
                     WHERE account_id = $1 AND revoked_at IS NULL AND id <> $4",
                )
                .bind(account.to_string())
                .bind(now)
                .bind(reason)
                .bind(keep)
                .execute(&mut *c)
                .await?;
                Ok(r.rows_affected())
            }

            /// Makes `email` the account's verified email (inserting or replacing its row);
            /// [`Error::EmailTaken`] when another account of the pool has it.
            async fn set_verified_email(c: &mut Conn, account: AccountId, pool: PoolId, email: &Email, now: i64) -> Result<(), Error> {
                sqlx::query(
                    "INSERT INTO email_credential (account_id, pool_id, email, email_normalized, \
                     verified_at, created_at) VALUES ($1, $2, $3, $4, $5, $5) \
                     ON CONFLICT (account_id) DO UPDATE SET email = excluded.email, \
                     email_normalized = excluded.email_normalized, verified_at = excluded.verified_at",
                )
                .bind(account.to_string())
                .bind(pool.to_string())
                .bind(email.as_str())
                .bind(email.normalized())
                .bind(now)
                .execute(&mut *c)
                .await
                .map_err(|e| if violates(&e, &EMAIL_KEY) { Error::EmailTaken } else { e.into() })?;
                Ok(())
            }

            /// A failed try on every live code of the attempt's purpose, audited.
            async fn count_code_failure(c: &mut Conn, attempt: &CodeAttempt<'_>, audit: &AuditEvent) -> Result<(), Error> {
                sqlx::query(
                    "UPDATE verification_code SET attempts = attempts + 1 \
                     WHERE account_id = $1 AND purpose = $2",
                )
                .bind(attempt.account.to_string())
                .bind(attempt.purpose.as_str())
                .execute(&mut *c)
                .await?;
                let failed = AuditEvent {
                    kind: "code_rejected",
                    detail: serde_json::json!({ "purpose": attempt.purpose.as_str() }),
                    ..audit.clone()
                };
                Self::audit(c, &failed).await
            }

            async fn cancel_email_changes(c: &mut Conn, account: AccountId) -> Result<(), Error> {
                sqlx::query("DELETE FROM verification_code WHERE account_id = $1 AND purpose = 'email_change'")
                    .bind(account.to_string())
                    .execute(&mut *c)
                    .await?;
                Ok(())
            }

            /// The session and its first refresh token: one statement (`NEW_SESSION`).
            /// [`Error::InvalidCredentials`] (the answer of a disabled account) when the
            /// account is not active: nothing is written.
            async fn session(c: &mut Conn, new: &NewSession) -> Result<(), Error> {
                let written = Self::bind_session(sqlx::query(NEW_SESSION), new)?
                    .execute(&mut *c)
                    .await?
                    .rows_affected();
                if written == 0 {
                    return Err(Error::InvalidCredentials);
                }
                Ok(())
            }

            /// Binds `$1`…`$13` of `NEW_SESSION` and `NEW_SESSION_AUDITED`.
            fn bind_session<'q>(
                q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
                new: &'q NewSession,
            ) -> Result<sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>, Error> {
                let s = &new.session;
                Ok(q.bind(s.id.to_string())
                    .bind(s.pool_id.to_string())
                    .bind(s.account_id.to_string())
                    .bind(&s.client_id)
                    .bind(json_text(&s.amr)?)
                    .bind(s.wallet.as_ref().map(ToString::to_string))
                    .bind(s.auth_time)
                    .bind(s.created_at)
                    .bind(s.expires_at)
                    .bind(&s.scope)
                    .bind(s.parent_id.map(|p| p.to_string()))
                    .bind(&new.refresh_hash)
                    .bind(&s.user_agent))
            }
        }

        infra_impls::infra_store!($store);
        account_impls::account_store!($store);
        client_impls::client_store!($store);
        directory_impls::directory_store!($store);
        federation_impls::federation_store!($store);
        hook_impls::hook_store!($store);
        mfa_impls::mfa_store!($store);
        session_impls::session_store!($store);

        #[async_trait]
        impl Store for $store {
            async fn ping(&self) -> Result<(), Error> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn clock(&self) -> Result<i64, Error> {
                let (now,): (i64,) = sqlx::query_as(DB_NOW).fetch_one(&self.pool).await?;
                Ok(now)
            }

            fn backend(&self) -> &'static str {
                $name
            }
        }
    };
}

mod pg {
    use super::*;

    /// Rows whose stored address has a character outside printable ASCII.
    const NON_ASCII_EMAIL: &str = "email ~ '[^ -~]'";
    /// The bundle's `wallets` column.
    const WALLETS_JSON: &str = "(SELECT json_agg(json_build_array(kind, chain_id, address, \
        address_key, caip10, created_at, verified_at, last_used_at) ORDER BY created_at, id)::text \
        FROM wallet_credential w WHERE w.account_id = a.id) AS wallets";
    /// The bundle's `groups` column: names, lowest precedence first.
    const GROUPS_JSON: &str = "(SELECT json_agg(g.name ORDER BY g.precedence, g.name)::text \
        FROM group_member m JOIN account_group g ON g.id = m.group_id \
        WHERE m.account_id = a.id) AS groups";
    /// A session and its first refresh token, in one statement (a data-modifying CTE; the
    /// foreign key is checked at the statement's end), only while the account is active: the
    /// account row is read `FOR SHARE`, so an operator's disable (an `UPDATE` of that row)
    /// either commits first (no session) or waits for this one and then ends it.
    const NEW_SESSION: &str = "WITH a AS (SELECT id FROM account WHERE id = $3 AND status = 'active' \
        FOR SHARE), s AS (INSERT INTO session (id, pool_id, account_id, client_id, amr, wallet, \
        auth_time, created_at, expires_at, last_used_at, scope, parent_id, user_agent) \
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $8, $10, $11, $13 FROM a RETURNING id) \
        INSERT INTO refresh_token (token_hash, session_id, generation, created_at) \
        SELECT $12, id, 0, $8 FROM s";
    /// As `NEW_SESSION`, with the wallet's last use (`$14`, its address key, or NULL) and the
    /// audit row (`$15`…`$19`): one statement, so atomic without a transaction. No row is
    /// written (0 rows affected) unless the account is active.
    const NEW_SESSION_AUDITED: &str = "WITH a AS (SELECT id FROM account WHERE id = $3 \
        AND status = 'active' FOR SHARE), s AS (INSERT INTO session (id, pool_id, account_id, \
        client_id, amr, wallet, auth_time, created_at, expires_at, last_used_at, scope, parent_id, \
        user_agent) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $8, $10, $11, $13 FROM a RETURNING id), \
        r AS (INSERT INTO refresh_token (token_hash, session_id, generation, created_at) \
        SELECT $12, id, 0, $8 FROM s), \
        w AS (UPDATE wallet_credential SET last_used_at = $8 WHERE account_id = $3 \
        AND address_key = $14 AND EXISTS (SELECT 1 FROM s)) \
        INSERT INTO audit_event (pool_id, account_id, kind, detail, created_at) \
        SELECT $15, $16, $17, $18, $19 FROM s";
    /// Row locks of a read inside a transaction: against a concurrent delete (`FOR SHARE`)
    /// or any concurrent write (`FOR UPDATE`). SQLite's `BEGIN IMMEDIATE` needs none.
    const FOR_SHARE: &str = " FOR SHARE";
    const FOR_UPDATE: &str = " FOR UPDATE";
    /// Reads the account's row if it is active, locking it against a concurrent disable.
    const ACTIVE_ACCOUNT: &str =
        "SELECT id FROM account WHERE id = $1 AND status = 'active' FOR SHARE";
    /// Whether `NEW_SESSION_AUDITED` is one statement (atomic by itself).
    const ONE_STATEMENT: bool = true;
    /// After a rotation's mark: the session `$1`'s last use `$2` if it is live, and the
    /// successor token (`$3`, generation `$4`); the session's row if live.
    const ROTATE_LIVE: &str = "WITH live AS (UPDATE session SET last_used_at = $2 WHERE id = $1 \
        AND revoked_at IS NULL AND expires_at > $2 RETURNING *), \
        successor AS (INSERT INTO refresh_token (token_hash, session_id, generation, created_at) \
        SELECT $3, id, $4, $2 FROM live ON CONFLICT (token_hash) DO NOTHING) \
        SELECT id, pool_id, account_id, client_id, amr, wallet, auth_time, created_at, \
        expires_at, last_used_at, revoked_at, scope, parent_id, user_agent FROM live";
    /// The server's clock, Unix seconds.
    const DB_NOW: &str = "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS BIGINT)";
    sql_store!(PgStore, sqlx::Postgres, "BEGIN", "PostgreSQL");
}

mod lite {
    use super::*;

    /// Rows whose stored address has a character outside printable ASCII.
    const NON_ASCII_EMAIL: &str = "email GLOB '*[^ -~]*'";
    /// The bundle's `wallets` column.
    /// (Ordered inside the aggregate, SQLite 3.44+: the order of a subquery feeding an
    /// aggregate is not promised.)
    const WALLETS_JSON: &str = "(SELECT json_group_array(json_array(kind, chain_id, address, \
        address_key, caip10, created_at, verified_at, last_used_at) ORDER BY created_at, id) \
        FROM wallet_credential w WHERE w.account_id = a.id) AS wallets";
    /// The bundle's `groups` column: names, lowest precedence first.
    const GROUPS_JSON: &str = "(SELECT json_group_array(g.name ORDER BY g.precedence, g.name) \
        FROM group_member m JOIN account_group g ON g.id = m.group_id \
        WHERE m.account_id = a.id) AS groups";
    /// A session and its first refresh token: two statements that sqlx's SQLite worker runs
    /// in one hand-off (`$n` parameters are absolute across the statements), only while the
    /// account is active (inside `BEGIN IMMEDIATE`, no disable can commit in between).
    const NEW_SESSION: &str = "INSERT INTO session (id, pool_id, account_id, client_id, amr, \
        wallet, auth_time, created_at, expires_at, last_used_at, scope, parent_id, user_agent) \
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $8, $10, $11, $13 \
        WHERE EXISTS (SELECT 1 FROM account WHERE id = $3 AND status = 'active'); \
        INSERT INTO refresh_token (token_hash, session_id, generation, created_at) \
        SELECT $12, $1, 0, $8 WHERE EXISTS (SELECT 1 FROM session WHERE id = $1)";
    /// As `NEW_SESSION`, with the wallet's last use (`$14`, its address key, or NULL) and the
    /// audit row (`$15`…`$19`); run inside a transaction (four statements). No row is written
    /// (0 rows affected in all) unless the account is active.
    const NEW_SESSION_AUDITED: &str = "INSERT INTO session (id, pool_id, account_id, client_id, \
        amr, wallet, auth_time, created_at, expires_at, last_used_at, scope, parent_id, user_agent) \
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $8, $10, $11, $13 \
        WHERE EXISTS (SELECT 1 FROM account WHERE id = $3 AND status = 'active'); \
        INSERT INTO refresh_token (token_hash, session_id, generation, created_at) \
        SELECT $12, $1, 0, $8 WHERE EXISTS (SELECT 1 FROM session WHERE id = $1); \
        UPDATE wallet_credential SET last_used_at = $8 WHERE account_id = $3 AND address_key = $14 \
        AND EXISTS (SELECT 1 FROM session WHERE id = $1); \
        INSERT INTO audit_event (pool_id, account_id, kind, detail, created_at) \
        SELECT $15, $16, $17, $18, $19 WHERE EXISTS (SELECT 1 FROM session WHERE id = $1)";
    /// Row locks of a read inside a transaction: none needed under `BEGIN IMMEDIATE`.
    const FOR_SHARE: &str = "";
    const FOR_UPDATE: &str = "";
    /// Reads the account's row if it is active (the transaction is `IMMEDIATE` already).
    const ACTIVE_ACCOUNT: &str = "SELECT id FROM account WHERE id = $1 AND status = 'active'";
    /// Whether `NEW_SESSION_AUDITED` is one statement (atomic by itself).
    const ONE_STATEMENT: bool = false;
    /// After a rotation's mark: the session `$1`'s last use `$2` if it is live (its row
    /// returned), then the successor token (`$3`, generation `$4`) if it was: one hand-off.
    const ROTATE_LIVE: &str = "UPDATE session SET last_used_at = $2 WHERE id = $1 \
        AND revoked_at IS NULL AND expires_at > $2 RETURNING id, pool_id, account_id, client_id, \
        amr, wallet, auth_time, created_at, expires_at, last_used_at, revoked_at, scope, parent_id, user_agent; \
        INSERT INTO refresh_token (token_hash, session_id, generation, created_at) \
        SELECT $3, $1, $4, $2 WHERE EXISTS (SELECT 1 FROM session WHERE id = $1 \
        AND revoked_at IS NULL AND expires_at > $2) ON CONFLICT (token_hash) DO NOTHING";
    /// The machine's clock, Unix seconds (SQLite runs in the gateway's process).
    const DB_NOW: &str = "SELECT CAST(strftime('%s', 'now') AS INTEGER)";
    sql_store!(SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE", "SQLite");
}

use lite::SqliteStore;
use pg::PgStore;
