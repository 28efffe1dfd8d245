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

/// Opens the store named by `url` (`postgres://…` or `sqlite://…`) and runs migrations.
pub async fn connect(url: &str) -> Result<DynStore, Error> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(Arc::new(PgStore { pool }))
    } else if url.starts_with("sqlite:") {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Arc::new(SqliteStore { pool }))
    } else {
        Err(Error::Store(
            "DATABASE_URL must start with postgres:// or sqlite:".into(),
        ))
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

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
}

impl PoolRow {
    fn into_record(self) -> Result<PoolRecord, Error> {
        Ok(PoolRecord {
            id: id(&self.id, PoolId::parse, "pool")?,
            name: self.name,
            config: serde_json::from_str(&self.config).map_err(|_| corrupt("pool config"))?,
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
}

const BUNDLE_SELECT: &str = "SELECT a.id, a.pool_id, a.status, a.attributes, a.created_at, a.updated_at, \
     e.email, e.verified_at AS email_verified_at, e.created_at AS email_created_at, \
     e.last_used_at AS email_last_used_at, p.hash AS password_hash, \
     p.created_at AS password_created_at, p.updated_at AS password_updated_at, \
     p.last_used_at AS password_last_used_at \
     FROM account a LEFT JOIN email_credential e ON e.account_id = a.id \
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
            wallets: Vec::new(),
        })
    }
}

#[derive(sqlx::FromRow)]
struct WalletRow {
    kind: String,
    chain_id: i64,
    address: String,
    address_key: String,
    caip10: String,
    created_at: i64,
    verified_at: i64,
    last_used_at: Option<i64>,
}

impl From<WalletRow> for WalletRecord {
    fn from(r: WalletRow) -> Self {
        WalletRecord {
            kind: r.kind,
            chain_id: r.chain_id,
            address: r.address,
            address_key: r.address_key,
            caip10: r.caip10,
            created_at: r.created_at,
            verified_at: r.verified_at,
            last_used_at: r.last_used_at,
        }
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
}

const SESSION_COLS: &str = "s.id, s.pool_id, s.account_id, s.client_id, s.amr, s.wallet, \
     s.auth_time, s.created_at, s.expires_at, s.last_used_at, s.revoked_at";

impl SessionRow {
    fn into_record(self) -> Result<SessionRecord, Error> {
        Ok(SessionRecord {
            id: id(&self.id, SessionId::parse, "session")?,
            pool_id: id(&self.pool_id, PoolId::parse, "session")?,
            account_id: id(&self.account_id, AccountId::parse, "session")?,
            client_id: self.client_id,
            amr: serde_json::from_str(&self.amr).map_err(|_| corrupt("session amr"))?,
            wallet: self.wallet,
            auth_time: self.auth_time,
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
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
struct AuditRow {
    id: i64,
    account_id: Option<String>,
    kind: String,
    detail: String,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct MailRow {
    id: String,
    recipient: String,
    kind: String,
    body_sealed: Option<Vec<u8>>,
    attempts: i32,
}

fn json_text<T: serde::Serialize>(v: &T) -> Result<String, Error> {
    serde_json::to_string(v).map_err(|e| Error::Store(e.to_string()))
}

macro_rules! sql_store {
    ($store:ident, $db:ty, $begin:literal) => {
        pub struct $store {
            pub(super) pool: sqlx::Pool<$db>,
        }

        type Conn = <$db as sqlx::Database>::Connection;

        impl $store {
            async fn begin(&self) -> Result<sqlx::Transaction<'static, $db>, Error> {
                Ok(self.pool.begin_with($begin).await?)
            }

            /// Completes a bundle with its wallets.
            async fn with_wallets(&self, row: Option<BundleRow>) -> Result<Option<AccountBundle>, Error> {
                let Some(row) = row else { return Ok(None) };
                let mut bundle = row.into_bundle()?;
                let wallets: Vec<WalletRow> = sqlx::query_as(
                    "SELECT kind, chain_id, address, address_key, caip10, created_at, verified_at, last_used_at \
                     FROM wallet_credential WHERE account_id = $1 ORDER BY created_at, id",
                )
                .bind(bundle.account.id.to_string())
                .fetch_all(&self.pool)
                .await?;
                bundle.wallets = wallets.into_iter().map(WalletRecord::from).collect();
                Ok(Some(bundle))
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
                .await?;
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
                .bind(w.kind)
                .bind(w.chain_id)
                .bind(&w.address)
                .bind(&w.address_key)
                .bind(&w.caip10)
                .bind(w.now)
                .execute(&mut *c)
                .await
                .map_err(|e| if is_unique_violation(&e) { Error::WalletAlreadyLinked } else { e.into() })?;
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
                let keep = match scope {
                    RevokeScope::All => String::new(),
                    RevokeScope::AllBut(s) => s.to_string(),
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

            async fn cancel_email_changes(c: &mut Conn, account: AccountId) -> Result<(), Error> {
                sqlx::query("DELETE FROM verification_code WHERE account_id = $1 AND purpose = 'email_change'")
                    .bind(account.to_string())
                    .execute(&mut *c)
                    .await?;
                Ok(())
            }

            async fn session(c: &mut Conn, new: &NewSession) -> Result<(), Error> {
                let s = &new.session;
                sqlx::query(
                    "INSERT INTO session (id, pool_id, account_id, client_id, amr, wallet, auth_time, \
                     created_at, expires_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8)",
                )
                .bind(s.id.to_string())
                .bind(s.pool_id.to_string())
                .bind(s.account_id.to_string())
                .bind(&s.client_id)
                .bind(json_text(&s.amr)?)
                .bind(&s.wallet)
                .bind(s.auth_time)
                .bind(s.created_at)
                .bind(s.expires_at)
                .execute(&mut *c)
                .await?;
                sqlx::query(
                    "INSERT INTO refresh_token (token_hash, session_id, generation, created_at) \
                     VALUES ($1, $2, 0, $3)",
                )
                .bind(&new.refresh_hash)
                .bind(s.id.to_string())
                .bind(s.created_at)
                .execute(&mut *c)
                .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl PoolStore for $store {
            async fn ensure_pool(&self, name: &str, config: &PoolConfig, now: i64) -> Result<PoolRecord, Error> {
                sqlx::query(
                    "INSERT INTO pool (id, name, config, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(PoolId::new().to_string())
                .bind(name)
                .bind(json_text(config)?)
                .bind(now)
                .execute(&self.pool)
                .await?;
                self.find_pool_by_name(name).await?.ok_or(Error::PoolNotFound)
            }

            async fn find_pool_by_name(&self, name: &str) -> Result<Option<PoolRecord>, Error> {
                sqlx::query_as::<_, PoolRow>("SELECT id, name, config, created_at FROM pool WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(PoolRow::into_record)
                    .transpose()
            }

            async fn update_pool_config(&self, id: PoolId, config: &PoolConfig) -> Result<(), Error> {
                sqlx::query("UPDATE pool SET config = $2 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(json_text(config)?)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl KeyStore for $store {
            async fn list_signing_keys(&self, pool: PoolId) -> Result<Vec<SigningKeyRecord>, Error> {
                sqlx::query_as::<_, KeyRow>(
                    "SELECT kid, pool_id, alg, private_sealed, public_jwk, created_at, activates_at, \
                     retires_at FROM signing_key WHERE pool_id = $1 ORDER BY created_at, kid",
                )
                .bind(pool.to_string())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(KeyRow::into_record)
                .collect()
            }

            async fn insert_signing_key(&self, key: &SigningKeyRecord, supersede: Option<i64>) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                if let Some(retires_at) = supersede {
                    sqlx::query(
                        "UPDATE signing_key SET retires_at = $3 \
                         WHERE pool_id = $1 AND alg = $2 AND retires_at IS NULL",
                    )
                    .bind(key.pool_id.to_string())
                    .bind(&key.alg)
                    .bind(retires_at)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "INSERT INTO signing_key (kid, pool_id, alg, private_sealed, public_jwk, created_at, \
                     activates_at, retires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&key.kid)
                .bind(key.pool_id.to_string())
                .bind(&key.alg)
                .bind(&key.private_sealed)
                .bind(json_text(&key.public_jwk)?)
                .bind(key.created_at)
                .bind(key.activates_at)
                .bind(key.retires_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_retired_keys(&self, pool: PoolId, now: i64) -> Result<u64, Error> {
                let r = sqlx::query(
                    "DELETE FROM signing_key WHERE pool_id = $1 AND retires_at IS NOT NULL AND retires_at <= $2",
                )
                .bind(pool.to_string())
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected())
            }
        }

        #[async_trait]
        impl AccountStore for $store {
            async fn find_account_by_email(&self, pool: PoolId, normalized: &str) -> Result<Option<AccountBundle>, Error> {
                let row = sqlx::query_as::<_, BundleRow>(&format!(
                    "{BUNDLE_SELECT} WHERE e.pool_id = $1 AND e.email_normalized = $2"
                ))
                .bind(pool.to_string())
                .bind(normalized)
                .fetch_optional(&self.pool)
                .await?;
                self.with_wallets(row).await
            }

            async fn find_account(&self, pool: PoolId, account: AccountId) -> Result<Option<AccountBundle>, Error> {
                let row = sqlx::query_as::<_, BundleRow>(&format!("{BUNDLE_SELECT} WHERE a.pool_id = $1 AND a.id = $2"))
                    .bind(pool.to_string())
                    .bind(account.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                self.with_wallets(row).await
            }

            async fn find_account_by_wallet(&self, pool: PoolId, chain_id: i64, address_key: &str) -> Result<Option<AccountBundle>, Error> {
                let row = sqlx::query_as::<_, BundleRow>(&format!(
                    "{BUNDLE_SELECT} WHERE a.id = (SELECT account_id FROM wallet_credential \
                     WHERE pool_id = $1 AND chain_id = $2 AND address_key = $3)"
                ))
                .bind(pool.to_string())
                .bind(chain_id)
                .bind(address_key)
                .fetch_optional(&self.pool)
                .await?;
                self.with_wallets(row).await
            }

            async fn insert_wallet_account(&self, account: &AccountRecord, wallet: &NewWallet, session: &NewSession, audit: &[AuditEvent]) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                Self::insert_account(&mut tx, account).await?;
                Self::wallet(&mut tx, wallet).await?;
                Self::session(&mut tx, session).await?;
                sqlx::query("UPDATE wallet_credential SET last_used_at = $2 WHERE account_id = $1")
                    .bind(account.id.to_string())
                    .bind(wallet.now)
                    .execute(&mut *tx)
                    .await?;
                for ev in audit {
                    Self::audit(&mut tx, ev).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn insert_wallet(&self, wallet: &NewWallet, notice: Option<&OutboxMail>, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                Self::wallet(&mut tx, wallet).await?;
                if let Some(m) = notice {
                    Self::mail(&mut tx, m).await?;
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_wallet(&self, account: AccountId, chain_id: i64, address_key: &str, notice: Option<&OutboxMail>, audit: &AuditEvent) -> Result<(), Error> {
                let acc = account.to_string();
                let mut tx = self.begin().await?;
                let deleted = sqlx::query("DELETE FROM wallet_credential WHERE account_id = $1 AND chain_id = $2 AND address_key = $3")
                    .bind(&acc)
                    .bind(chain_id)
                    .bind(address_key)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if deleted == 0 {
                    return Err(Error::WalletNotFound);
                }
                // What can still sign in: the other wallets, and a password with a verified email.
                let (left,): (i64,) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM wallet_credential WHERE account_id = $1) + \
                     (SELECT COUNT(*) FROM password_credential p JOIN email_credential e ON e.account_id = p.account_id \
                      WHERE p.account_id = $1 AND e.verified_at IS NOT NULL)",
                )
                .bind(&acc)
                .fetch_one(&mut *tx)
                .await?;
                if left == 0 {
                    return Err(Error::LastCredential);
                }
                if let Some(m) = notice {
                    Self::mail(&mut tx, m).await?;
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn insert_email_account(
                &self,
                account: &AccountRecord,
                email: &str,
                code: &NewCode,
                mail: &OutboxMail,
                audit: &AuditEvent,
            ) -> Result<(), Error> {
                let normalized = Email::parse(email)?.normalized();
                let mut tx = self.begin().await?;
                Self::insert_account(&mut tx, account).await?;
                sqlx::query(
                    "INSERT INTO email_credential (account_id, pool_id, email, email_normalized, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(account.id.to_string())
                .bind(account.pool_id.to_string())
                .bind(email)
                .bind(normalized)
                .bind(account.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| if is_unique_violation(&e) { Error::EmailTaken } else { e.into() })?;
                Self::code(&mut tx, code).await?;
                Self::mail(&mut tx, mail).await?;
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn find_code_payload(&self, account: AccountId, purpose: CodePurpose, now: i64) -> Result<Option<Option<String>>, Error> {
                let row: Option<(Option<String>,)> = sqlx::query_as(
                    "SELECT payload FROM verification_code WHERE account_id = $1 AND purpose = $2 \
                     AND expires_at > $3 ORDER BY created_at DESC, id LIMIT 1",
                )
                .bind(account.to_string())
                .bind(purpose.as_str())
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(p,)| p))
            }

            async fn replace_code(&self, code: &NewCode, mail: &OutboxMail, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                Self::code(&mut tx, code).await?;
                Self::mail(&mut tx, mail).await?;
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn consume_code(&self, attempt: &CodeAttempt<'_>, effect: &CodeEffect, audit: &AuditEvent) -> Result<bool, Error> {
                let CodeAttempt { account, purpose, code_hash, now, max_attempts } = *attempt;
                let mut tx = self.begin().await?;
                // Consume and check in one statement: a code can be used once, never twice.
                let consumed: Option<(Option<String>,)> = sqlx::query_as(
                    "DELETE FROM verification_code WHERE account_id = $1 AND purpose = $2 \
                     AND code_hash = $3 AND expires_at > $4 AND attempts < $5 RETURNING payload",
                )
                .bind(account.to_string())
                .bind(purpose.as_str())
                .bind(code_hash)
                .bind(now)
                .bind(max_attempts)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((payload,)) = consumed else {
                    sqlx::query(
                        "UPDATE verification_code SET attempts = attempts + 1 \
                         WHERE account_id = $1 AND purpose = $2",
                    )
                    .bind(account.to_string())
                    .bind(purpose.as_str())
                    .execute(&mut *tx)
                    .await?;
                    let failed = AuditEvent {
                        kind: "code_rejected",
                        detail: serde_json::json!({ "purpose": purpose.as_str() }),
                        ..audit.clone()
                    };
                    Self::audit(&mut tx, &failed).await?;
                    tx.commit().await?;
                    return Ok(false);
                };
                let acc = account.to_string();
                // Every other live code of this purpose dies with it (other sign-ups' passwords).
                sqlx::query("DELETE FROM verification_code WHERE account_id = $1 AND purpose = $2")
                    .bind(&acc)
                    .bind(purpose.as_str())
                    .execute(&mut *tx)
                    .await?;
                match effect {
                    CodeEffect::ConfirmSignup => {
                        if let Some(hash) = &payload {
                            Self::set_password(&mut tx, account, hash, now).await?;
                        }
                        sqlx::query("UPDATE email_credential SET verified_at = $2 WHERE account_id = $1")
                            .bind(&acc)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query(
                            "UPDATE account SET status = 'active', updated_at = $2 \
                             WHERE id = $1 AND status = 'pending'",
                        )
                        .bind(&acc)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    CodeEffect::Recover { password_hash, session, notice } => {
                        sqlx::query(
                            "UPDATE email_credential SET verified_at = COALESCE(verified_at, $2), \
                             last_used_at = $2 WHERE account_id = $1",
                        )
                        .bind(&acc)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        if let Some(hash) = password_hash {
                            Self::set_password(&mut tx, account, hash, now).await?;
                        }
                        Self::revoke(&mut tx, account, RevokeScope::All, now, "recovery").await?;
                        Self::cancel_email_changes(&mut tx, account).await?;
                        Self::session(&mut tx, session).await?;
                        Self::mail(&mut tx, notice).await?;
                    }
                    CodeEffect::ChangeEmail { notice } => {
                        let target = payload.ok_or_else(|| corrupt("verification_code"))?;
                        let email = Email::parse(&target)?;
                        sqlx::query(
                            "INSERT INTO email_credential (account_id, pool_id, email, email_normalized, \
                             verified_at, created_at) VALUES ($1, $2, $3, $4, $5, $5) \
                             ON CONFLICT (account_id) DO UPDATE SET email = excluded.email, \
                             email_normalized = excluded.email_normalized, verified_at = excluded.verified_at",
                        )
                        .bind(&acc)
                        .bind(audit.pool_id.to_string())
                        .bind(email.as_str())
                        .bind(email.normalized())
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| if is_unique_violation(&e) { Error::EmailTaken } else { e.into() })?;
                        if let Some(notice) = notice {
                            Self::mail(&mut tx, notice).await?;
                        }
                    }
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn update_attributes(&self, account: AccountId, attributes: &Map<String, Value>, now: i64, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                sqlx::query("UPDATE account SET attributes = $2, updated_at = $3 WHERE id = $1")
                    .bind(account.to_string())
                    .bind(json_text(attributes)?)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_password(
                &self,
                account: AccountId,
                hash: &str,
                now: i64,
                revoke: RevokeScope,
                notice: Option<&OutboxMail>,
                audit: &AuditEvent,
            ) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                Self::set_password(&mut tx, account, hash, now).await?;
                Self::revoke(&mut tx, account, revoke, now, "password_changed").await?;
                Self::cancel_email_changes(&mut tx, account).await?;
                if let Some(m) = notice {
                    Self::mail(&mut tx, m).await?;
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_audit(&self, account: AccountId) -> Result<Vec<AuditRecord>, Error> {
                sqlx::query_as::<_, AuditRow>(
                    "SELECT id, account_id, kind, detail, created_at FROM audit_event \
                     WHERE account_id = $1 ORDER BY id",
                )
                .bind(account.to_string())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(|r| {
                    Ok(AuditRecord {
                        id: r.id,
                        account_id: r.account_id.as_deref().and_then(AccountId::parse),
                        kind: r.kind,
                        detail: serde_json::from_str(&r.detail).map_err(|_| corrupt("audit_event"))?,
                        created_at: r.created_at,
                    })
                })
                .collect()
            }

            async fn record(&self, audit: &AuditEvent, mail: Option<&OutboxMail>) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                if let Some(m) = mail {
                    Self::mail(&mut tx, m).await?;
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }
        }

        #[async_trait]
        impl SessionStore for $store {
            async fn insert_session(&self, new: &NewSession, password_hash: Option<&str>, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                let account = new.session.account_id.to_string();
                if let Some(hash) = password_hash {
                    // The password checked must still be the account's: a change or recovery
                    // that committed meanwhile ended every session, and this one must not
                    // outlive it. (It also records the password's and the email's last use.)
                    let current = sqlx::query(
                        "UPDATE password_credential SET last_used_at = $2 WHERE account_id = $1 AND hash = $3",
                    )
                    .bind(&account)
                    .bind(new.session.created_at)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1;
                    if !current {
                        return Err(Error::InvalidCredentials);
                    }
                    sqlx::query("UPDATE email_credential SET last_used_at = $2 WHERE account_id = $1")
                        .bind(&account)
                        .bind(new.session.created_at)
                        .execute(&mut *tx)
                        .await?;
                }
                Self::session(&mut tx, new).await?;
                if let Some(caip10) = &new.session.wallet {
                    let address_key = caip10.rsplit(':').next().unwrap_or_default().to_ascii_lowercase();
                    sqlx::query("UPDATE wallet_credential SET last_used_at = $2 WHERE account_id = $1 AND address_key = $3")
                        .bind(&account)
                        .bind(new.session.created_at)
                        .bind(address_key)
                        .execute(&mut *tx)
                        .await?;
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn rotate_refresh_token(&self, pool: PoolId, hash: &str, successor_hash: &str, now: i64, grace: i64) -> Result<Rotation, Error> {
                let mut tx = self.begin().await?;
                // Mark first, then read: of two concurrent presentations exactly one marks it.
                let marked = sqlx::query(
                    "UPDATE refresh_token SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL \
                     AND session_id IN (SELECT id FROM session WHERE pool_id = $3)",
                )
                .bind(hash)
                .bind(now)
                .bind(pool.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                let row: Option<RotationRow> = sqlx::query_as(&format!(
                    "SELECT rt.used_at, rt.generation, {SESSION_COLS} FROM refresh_token rt \
                     JOIN session s ON s.id = rt.session_id WHERE rt.token_hash = $1 AND s.pool_id = $2"
                ))
                .bind(hash)
                .bind(pool.to_string())
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else { return Ok(Rotation::Invalid) };
                let generation = row.generation;
                let used_at = row.used_at;
                let session = row.session.into_record()?;
                if session.revoked_at.is_some() || session.expires_at <= now {
                    return Ok(Rotation::Invalid);
                }
                let within_grace = used_at.is_some_and(|u| now - u <= grace);
                if marked || within_grace {
                    // Re-check liveness under the row lock: a revocation that committed since the
                    // read above wins, and no token set is issued for a revoked family.
                    let live = sqlx::query(
                        "UPDATE session SET last_used_at = $2 WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2",
                    )
                    .bind(session.id.to_string())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1;
                    if !live {
                        return Ok(Rotation::Invalid);
                    }
                    sqlx::query(
                        "INSERT INTO refresh_token (token_hash, session_id, generation, created_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (token_hash) DO NOTHING",
                    )
                    .bind(successor_hash)
                    .bind(session.id.to_string())
                    .bind(generation + 1)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    return Ok(if marked { Rotation::Rotated(session) } else { Rotation::Repeated(session) });
                }
                // Reuse after the grace period: the token was stolen or replayed. End the family.
                sqlx::query(
                    "UPDATE session SET revoked_at = $2, revoked_reason = 'refresh_token_reuse' WHERE id = $1",
                )
                .bind(session.id.to_string())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let audit = AuditEvent {
                    pool_id: session.pool_id,
                    account_id: Some(session.account_id),
                    kind: "token_family_revoked",
                    detail: serde_json::json!({ "session": session.id, "reason": "refresh_token_reuse" }),
                    created_at: now,
                };
                Self::audit(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(Rotation::Reused)
            }

            async fn find_session(&self, id: SessionId) -> Result<Option<SessionRecord>, Error> {
                sqlx::query_as::<_, SessionRow>(&format!("SELECT {SESSION_COLS} FROM session s WHERE s.id = $1"))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(SessionRow::into_record)
                    .transpose()
            }

            async fn revoke_session_by_token(&self, pool: PoolId, hash: &str, now: i64, reason: &str) -> Result<bool, Error> {
                let mut tx = self.begin().await?;
                let row: Option<SessionRow> = sqlx::query_as(&format!(
                    "SELECT {SESSION_COLS} FROM refresh_token rt JOIN session s ON s.id = rt.session_id \
                     WHERE rt.token_hash = $1 AND s.pool_id = $2 AND s.revoked_at IS NULL"
                ))
                .bind(hash)
                .bind(pool.to_string())
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else { return Ok(false) };
                let session = row.into_record()?;
                sqlx::query("UPDATE session SET revoked_at = $2, revoked_reason = $3 WHERE id = $1")
                    .bind(session.id.to_string())
                    .bind(now)
                    .bind(reason)
                    .execute(&mut *tx)
                    .await?;
                let audit = AuditEvent {
                    pool_id: session.pool_id,
                    account_id: Some(session.account_id),
                    kind: "session_revoked",
                    detail: serde_json::json!({ "session": session.id, "reason": reason }),
                    created_at: now,
                };
                Self::audit(&mut tx, &audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn revoke_sessions(&self, account: AccountId, scope: RevokeScope, now: i64, audit: &AuditEvent) -> Result<u64, Error> {
                let mut tx = self.begin().await?;
                let n = Self::revoke(&mut tx, account, scope, now, audit.kind).await?;
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(n)
            }
        }

        #[async_trait]
        impl OutboxStore for $store {
            async fn claim_mail(&self, now: i64, lease: i64, limit: i64, max_attempts: i32) -> Result<Vec<PendingMail>, Error> {
                // A worker that died mid-send leaves its lease to expire; after the last attempt
                // such a mail is given up rather than retried forever.
                sqlx::query(
                    "UPDATE mail_outbox SET status = 'failed', body_sealed = NULL, locked_until = NULL \
                     WHERE status = 'pending' AND attempts >= $2 AND (locked_until IS NULL OR locked_until <= $1)",
                )
                .bind(now)
                .bind(max_attempts)
                .execute(&self.pool)
                .await?;
                let rows: Vec<MailRow> = sqlx::query_as(
                    "UPDATE mail_outbox SET locked_until = $2, attempts = attempts + 1 \
                     WHERE id IN (SELECT id FROM mail_outbox WHERE status = 'pending' \
                       AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until <= $1) \
                       ORDER BY created_at LIMIT $3) \
                     AND status = 'pending' AND (locked_until IS NULL OR locked_until <= $1) \
                     RETURNING id, recipient, kind, body_sealed, attempts",
                )
                .bind(now)
                .bind(now + lease)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|r| {
                        Ok(PendingMail {
                            id: uuid::Uuid::parse_str(&r.id).map_err(|_| corrupt("mail_outbox"))?,
                            recipient: r.recipient,
                            kind: r.kind,
                            body_sealed: r.body_sealed.unwrap_or_default(),
                            attempts: r.attempts,
                        })
                    })
                    .collect()
            }

            async fn mark_mail_sent(&self, id: uuid::Uuid, now: i64) -> Result<(), Error> {
                sqlx::query(
                    "UPDATE mail_outbox SET status = 'sent', sent_at = $2, body_sealed = NULL, \
                     locked_until = NULL WHERE id = $1",
                )
                .bind(id.to_string())
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn mark_mail_failed(&self, id: uuid::Uuid, error: &str, retry_at: i64, max_attempts: i32) -> Result<(), Error> {
                sqlx::query(
                    "UPDATE mail_outbox SET last_error = $2, next_attempt_at = $3, locked_until = NULL, \
                     status = CASE WHEN attempts >= $4 THEN 'failed' ELSE 'pending' END, \
                     body_sealed = CASE WHEN attempts >= $4 THEN NULL ELSE body_sealed END WHERE id = $1",
                )
                .bind(id.to_string())
                .bind(error)
                .bind(retry_at)
                .bind(max_attempts)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl Store for $store {
            async fn ping(&self) -> Result<(), Error> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            fn backend(&self) -> &'static str {
                stringify!($store)
            }
        }
    };
}

mod pg {
    use super::*;
    sql_store!(PgStore, sqlx::Postgres, "BEGIN");
}

mod lite {
    use super::*;
    sql_store!(SqliteStore, sqlx::Sqlite, "BEGIN IMMEDIATE");
}

use lite::SqliteStore;
use pg::PgStore;
