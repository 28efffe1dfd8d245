//! Second factors: the SQL stores' `MfaStore`, expanded by `sql_store!` (in `../sql.rs`)
//! once per backend. A step or a backup code is used by one conditional `UPDATE`, so two
//! instances racing with the same code cannot both succeed.

macro_rules! mfa_store {
    ($store:ident) => {
        impl $store {
            /// Locks the account's row for the rest of the transaction (PostgreSQL; SQLite's
            /// `BEGIN IMMEDIATE` already holds the write lock): changes to its factors are
            /// serialised, so "the last factor" is counted with no removal in flight.
            async fn lock_account(c: &mut Conn, account: AccountId) -> Result<(), Error> {
                let found: Option<(String,)> =
                    sqlx::query_as(&format!("SELECT id FROM account WHERE id = $1{FOR_UPDATE}"))
                        .bind(account.to_string())
                        .fetch_optional(&mut *c)
                        .await?;
                found.map(|_| ()).ok_or(Error::Deleted)
            }

            async fn set_backup_codes(c: &mut Conn, account: AccountId, hashes: &[String], now: i64) -> Result<(), Error> {
                sqlx::query("DELETE FROM mfa_backup_code WHERE account_id = $1")
                    .bind(account.to_string())
                    .execute(&mut *c)
                    .await?;
                for hash in hashes {
                    sqlx::query("INSERT INTO mfa_backup_code (account_id, code_hash, created_at) VALUES ($1, $2, $3)")
                        .bind(account.to_string())
                        .bind(hash)
                        .bind(now)
                        .execute(&mut *c)
                        .await?;
                }
                Ok(())
            }

            /// What can still sign in (DESIGN rule 3): wallets, a password with a verified
            /// email, passkeys, federated identities. Counted inside the transaction that
            /// removed one, after the account's row was locked.
            async fn credentials_left(c: &mut Conn, account: AccountId) -> Result<i64, Error> {
                let (left,): (i64,) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM wallet_credential WHERE account_id = $1) + \
                     (SELECT COUNT(*) FROM password_credential p JOIN email_credential e ON e.account_id = p.account_id \
                      WHERE p.account_id = $1 AND e.verified_at IS NOT NULL) + \
                     (SELECT COUNT(*) FROM passkey WHERE account_id = $1) + \
                     (SELECT COUNT(*) FROM federated_identity WHERE account_id = $1)",
                )
                .bind(account.to_string())
                .fetch_one(&mut *c)
                .await?;
                Ok(left)
            }

            /// After a credential's removal, in its transaction: refused when nothing that
            /// can sign in is left (DESIGN rule 3); otherwise its notice and audit row.
            async fn credential_removed(c: &mut Conn, account: AccountId, notice: Option<&OutboxMail>, audit: &AuditEvent) -> Result<(), Error> {
                if Self::credentials_left(c, account).await? == 0 {
                    return Err(Error::LastCredential);
                }
                if let Some(m) = notice {
                    Self::mail(c, m).await?;
                }
                Self::audit(c, audit).await
            }

            /// The confirmed app and email codes the account has.
            async fn count_factors(c: &mut Conn, account: AccountId) -> Result<i64, Error> {
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM totp_credential WHERE account_id = $1 AND confirmed_at IS NOT NULL) \
                     + (SELECT COUNT(*) FROM mfa_email WHERE account_id = $1) \
                     + (SELECT COUNT(*) FROM passkey WHERE account_id = $1)",
                )
                .bind(account.to_string())
                .fetch_one(&mut *c)
                .await?;
                Ok(n)
            }

            /// After a factor's removal: the last one goes only when `keep_one` does not hold
            /// it ([`Error::LastFactor`]), and takes the backup codes with it; then the notice
            /// and audit row.
            async fn after_removal(c: &mut Conn, change: &FactorChange, keep_one: bool) -> Result<(), Error> {
                if Self::count_factors(c, change.account).await? == 0 {
                    if keep_one {
                        return Err(Error::LastFactor);
                    }
                    Self::set_backup_codes(c, change.account, &[], change.now).await?;
                }
                Self::record_change(c, change).await
            }

            /// The change's notice and audit row.
            async fn record_change(c: &mut Conn, change: &FactorChange) -> Result<(), Error> {
                if let Some(m) = &change.notice {
                    Self::mail(c, m).await?;
                }
                Self::audit(c, &change.audit).await
            }
        }

        static PASSKEY_COLS: &str = "id, pool_id, account_id, credential_id, credential, name, created_at, last_used_at";

        fn passkey_row(row: (String, String, String, String, String, String, i64, Option<i64>)) -> Result<PasskeyRecord, Error> {
            let (id, pool_id, account_id, credential_id, credential, name, created_at, last_used_at) = row;
            Ok(PasskeyRecord {
                id: uuid::Uuid::parse_str(&id).map_err(|_| corrupt("passkey"))?,
                pool_id: PoolId::parse(&pool_id).ok_or_else(|| corrupt("passkey"))?,
                account_id: AccountId::parse(&account_id).ok_or_else(|| corrupt("passkey"))?,
                credential_id,
                credential,
                name,
                created_at,
                last_used_at,
            })
        }

        #[async_trait]
        impl MfaStore for $store {
            async fn insert_passkey(&self, p: &PasskeyRecord, change: &FactorChange) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                Self::lock_account(&mut tx, change.account).await?;
                sqlx::query(
                    "INSERT INTO passkey (id, pool_id, account_id, credential_id, credential, name, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(p.id.to_string())
                .bind(p.pool_id.to_string())
                .bind(p.account_id.to_string())
                .bind(&p.credential_id)
                .bind(&p.credential)
                .bind(&p.name)
                .bind(p.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| if violates(&e, &PASSKEY_KEY) { Error::PasskeyInvalid } else { e.into() })?;
                Self::record_change(&mut tx, change).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_passkeys(&self, account: AccountId) -> Result<Vec<PasskeyRecord>, Error> {
                sqlx::query_as(&format!("SELECT {PASSKEY_COLS} FROM passkey WHERE account_id = $1 ORDER BY created_at, id"))
                    .bind(account.to_string())
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(passkey_row)
                    .collect()
            }

            async fn find_passkey(&self, pool: PoolId, credential_id: &str) -> Result<Option<PasskeyRecord>, Error> {
                sqlx::query_as(&format!("SELECT {PASSKEY_COLS} FROM passkey WHERE pool_id = $1 AND credential_id = $2"))
                    .bind(pool.to_string())
                    .bind(credential_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(passkey_row)
                    .transpose()
            }

            async fn passkey_used(&self, id: uuid::Uuid, credential: &str, now: i64) -> Result<(), Error> {
                sqlx::query("UPDATE passkey SET credential = $2, last_used_at = $3 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(credential)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn rename_passkey(&self, account: AccountId, id: uuid::Uuid, name: &str, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                let n = sqlx::query("UPDATE passkey SET name = $3 WHERE id = $1 AND account_id = $2")
                    .bind(id.to_string())
                    .bind(account.to_string())
                    .bind(name)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err(Error::PasskeyNotFound);
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn remove_passkey(&self, change: &FactorChange, id: uuid::Uuid, keep_one: bool) -> Result<(), Error> {
                let acc = change.account.to_string();
                let mut tx = self.begin().await?;
                Self::lock_account(&mut tx, change.account).await?;
                let n = sqlx::query("DELETE FROM passkey WHERE id = $1 AND account_id = $2")
                    .bind(id.to_string())
                    .bind(&acc)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err(Error::PasskeyNotFound);
                }
                if Self::credentials_left(&mut tx, change.account).await? == 0 {
                    return Err(Error::LastCredential);
                }
                Self::after_removal(&mut tx, change, keep_one).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn remember_origin(&self, origin: &SignInOrigin<'_>, notice: &OriginNotice<'_>) -> Result<(bool, bool), Error> {
                let acc = origin.account.to_string();
                let mut tx = self.begin().await?;
                let (before,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sign_in_origin WHERE account_id = $1")
                    .bind(&acc)
                    .fetch_one(&mut *tx)
                    .await?;
                let mut new = [false, false];
                let seen = [("network", Some(origin.network)), ("device", origin.device)];
                for (i, (kind, value)) in seen.into_iter().enumerate() {
                    let Some(value) = value else { continue };
                    let (n,): (i64,) = sqlx::query_as(
                        "INSERT INTO sign_in_origin (account_id, kind, value_hash, first_seen, last_seen, seen) \
                         VALUES ($1, $2, $3, $4, $4, 1) ON CONFLICT (account_id, kind, value_hash) \
                         DO UPDATE SET last_seen = excluded.last_seen, seen = sign_in_origin.seen + 1 \
                         RETURNING seen",
                    )
                    .bind(&acc)
                    .bind(kind)
                    .bind(value)
                    .bind(origin.now)
                    .fetch_one(&mut *tx)
                    .await?;
                    new[i] = n == 1;
                }
                let [new_network, new_device] = new;
                if before > 0 && (new_network || new_device) {
                    let (audit, mail) = notice(new_network, new_device)?;
                    if let Some(m) = &mail {
                        Self::mail(&mut tx, m).await?;
                    }
                    Self::audit(&mut tx, &audit).await?;
                }
                tx.commit().await?;
                Ok((new_network, new_device))
            }

            async fn mfa_state(&self, account: AccountId) -> Result<MfaState, Error> {
                let acc = account.to_string();
                let totp: Option<(Vec<u8>, Option<i64>, Option<i64>, i64, Option<i64>)> = sqlx::query_as(
                    "SELECT secret_sealed, confirmed_at, last_used_step, created_at, last_used_at \
                     FROM totp_credential WHERE account_id = $1",
                )
                .bind(&acc)
                .fetch_optional(&self.pool)
                .await?;
                let email: Option<(i64, Option<i64>)> =
                    sqlx::query_as("SELECT created_at, last_used_at FROM mfa_email WHERE account_id = $1")
                        .bind(&acc)
                        .fetch_optional(&self.pool)
                        .await?;
                let (left,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM mfa_backup_code WHERE account_id = $1 AND used_at IS NULL",
                )
                .bind(&acc)
                .fetch_one(&self.pool)
                .await?;
                let (passkeys,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM passkey WHERE account_id = $1")
                    .bind(&acc)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(MfaState {
                    passkeys,
                    totp: totp.map(|(secret_sealed, confirmed_at, last_used_step, created_at, last_used_at)| TotpRecord {
                        secret_sealed,
                        confirmed_at,
                        last_used_step,
                        created_at,
                        last_used_at,
                    }),
                    email,
                    backup_codes_left: left,
                })
            }

            async fn start_totp(&self, account: AccountId, sealed: &[u8], now: i64) -> Result<(), Error> {
                let written = sqlx::query(
                    "INSERT INTO totp_credential (account_id, secret_sealed, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (account_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, \
                     created_at = excluded.created_at, last_used_step = NULL \
                     WHERE totp_credential.confirmed_at IS NULL",
                )
                .bind(account.to_string())
                .bind(sealed)
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
                if written == 0 {
                    return Err(Error::MfaAlreadyEnrolled);
                }
                Ok(())
            }

            async fn confirm_totp(&self, change: &FactorChange, step: i64, backup_hashes: &[String]) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                Self::lock_account(&mut tx, change.account).await?;
                let confirmed = sqlx::query(
                    "UPDATE totp_credential SET confirmed_at = $2, last_used_step = $3, last_used_at = $2 \
                     WHERE account_id = $1 AND confirmed_at IS NULL",
                )
                .bind(change.account.to_string())
                .bind(change.now)
                .bind(step)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if confirmed == 0 {
                    return Err(Error::MfaNotEnrolled);
                }
                Self::set_backup_codes(&mut tx, change.account, backup_hashes, change.now).await?;
                Self::record_change(&mut tx, change).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn use_totp_step(&self, account: AccountId, step: i64, now: i64) -> Result<bool, Error> {
                let used = sqlx::query(
                    "UPDATE totp_credential SET last_used_step = $2, last_used_at = $3 \
                     WHERE account_id = $1 AND confirmed_at IS NOT NULL \
                     AND (last_used_step IS NULL OR last_used_step < $2)",
                )
                .bind(account.to_string())
                .bind(step)
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(used == 1)
            }

            async fn use_backup_code(&self, account: AccountId, hash: &str, now: i64) -> Result<bool, Error> {
                let used = sqlx::query(
                    "UPDATE mfa_backup_code SET used_at = $3 \
                     WHERE account_id = $1 AND code_hash = $2 AND used_at IS NULL",
                )
                .bind(account.to_string())
                .bind(hash)
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(used == 1)
            }

            async fn use_email_factor(&self, account: AccountId, now: i64) -> Result<(), Error> {
                sqlx::query("UPDATE mfa_email SET last_used_at = $2 WHERE account_id = $1")
                    .bind(account.to_string())
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn enable_email_factor(&self, change: &FactorChange) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                Self::lock_account(&mut tx, change.account).await?;
                let added = sqlx::query(
                    "INSERT INTO mfa_email (account_id, created_at) VALUES ($1, $2) \
                     ON CONFLICT (account_id) DO NOTHING",
                )
                .bind(change.account.to_string())
                .bind(change.now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if added == 0 {
                    // Already on: nothing changed, nothing to audit or mail.
                    return Ok(());
                }
                Self::record_change(&mut tx, change).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn replace_backup_codes(&self, change: &FactorChange, hashes: &[String]) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                Self::lock_account(&mut tx, change.account).await?;
                if Self::count_factors(&mut tx, change.account).await? == 0 {
                    return Err(Error::MfaNotEnrolled);
                }
                Self::set_backup_codes(&mut tx, change.account, hashes, change.now).await?;
                Self::record_change(&mut tx, change).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn remove_factor(&self, change: &FactorChange, factor: crate::policy::Factor, keep_one: bool) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                Self::lock_account(&mut tx, change.account).await?;
                let sql = match factor {
                    // A pending enrolment goes too.
                    crate::policy::Factor::Totp => "DELETE FROM totp_credential WHERE account_id = $1",
                    crate::policy::Factor::Email => "DELETE FROM mfa_email WHERE account_id = $1",
                    crate::policy::Factor::BackupCode | crate::policy::Factor::Passkey => return Err(Error::MfaNotEnrolled),
                };
                let removed = sqlx::query(sql)
                    .bind(change.account.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if removed == 0 {
                    return Err(Error::MfaNotEnrolled);
                }
                Self::after_removal(&mut tx, change, keep_one).await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(super) use mfa_store;
