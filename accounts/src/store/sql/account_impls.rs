//! The account aggregate (accounts, credentials, codes, audit):
//! the SQL stores' trait implementations, which `sql_store!` (in `../sql.rs`) expands
//! once per backend from one SQL text for PostgreSQL and SQLite.

macro_rules! account_store {
    ($store:ident) => {
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
    };
}

pub(super) use account_store;
