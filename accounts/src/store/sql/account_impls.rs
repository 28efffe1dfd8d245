//! The account aggregate (accounts, credentials, codes, audit):
//! the SQL stores' trait implementations, which `sql_store!` (in `../sql.rs`) expands
//! once per backend from one SQL text for PostgreSQL and SQLite.

macro_rules! account_store {
    ($store:ident) => {
        #[async_trait]
        impl AccountStore for $store {
            async fn find_account_by_email(&self, pool: PoolId, normalized: &str) -> Result<Option<AccountBundle>, Error> {
                let row = sqlx::query_as::<_, BundleRow>(&BUNDLE_BY_EMAIL)
                .bind(pool.to_string())
                .bind(normalized)
                .fetch_optional(&self.pool)
                .await?;
                row.map(BundleRow::into_bundle).transpose()
            }

            async fn find_account(&self, pool: PoolId, account: AccountId) -> Result<Option<AccountBundle>, Error> {
                let row = sqlx::query_as::<_, BundleRow>(&BUNDLE_BY_ID)
                    .bind(pool.to_string())
                    .bind(account.to_string())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(BundleRow::into_bundle).transpose()
            }

            async fn find_account_by_wallet(&self, pool: PoolId, chain_id: i64, address_key: &str) -> Result<Option<AccountBundle>, Error> {
                let row = sqlx::query_as::<_, BundleRow>(&BUNDLE_BY_WALLET)
                .bind(pool.to_string())
                .bind(chain_id)
                .bind(address_key)
                .fetch_optional(&self.pool)
                .await?;
                row.map(BundleRow::into_bundle).transpose()
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
                // Two unlinks at once must not both take "the last credential": the account's
                // row is locked while what is left is counted.
                Self::lock_account(&mut tx, account).await?;
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
                Self::credential_removed(&mut tx, account, notice, audit).await?;
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
                .map_err(|e| if violates(&e, &EMAIL_KEY) { Error::EmailTaken } else { e.into() })?;
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

            async fn find_code_payloads(&self, account: AccountId, purpose: CodePurpose, now: i64, max_attempts: i32) -> Result<Vec<String>, Error> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT payload FROM verification_code WHERE account_id = $1 AND purpose = $2 \
                     AND expires_at > $3 AND attempts < $4 AND payload IS NOT NULL \
                     ORDER BY created_at DESC, id DESC",
                )
                .bind(account.to_string())
                .bind(purpose.as_str())
                .bind(now)
                .bind(max_attempts)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|(p,)| p).collect())
            }

            async fn code_is_live(&self, attempt: &CodeAttempt<'_>) -> Result<bool, Error> {
                let row: Option<(String,)> = sqlx::query_as(
                    "SELECT id FROM verification_code WHERE account_id = $1 AND purpose = $2 \
                     AND code_hash = $3 AND expires_at > $4 AND attempts < $5",
                )
                .bind(attempt.account.to_string())
                .bind(attempt.purpose.as_str())
                .bind(attempt.code_hash)
                .bind(attempt.now)
                .bind(attempt.max_attempts)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.is_some())
            }

            async fn reject_code(&self, attempt: &CodeAttempt<'_>, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                Self::count_code_failure(&mut tx, attempt, audit).await?;
                tx.commit().await?;
                Ok(())
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
                    Self::count_code_failure(&mut tx, attempt, audit).await?;
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
                    CodeEffect::ConfirmSignup { password_hash } => {
                        Self::set_password(&mut tx, account, password_hash, now).await?;
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
                        if let Some(session) = session {
                            Self::session(&mut tx, session).await?;
                        }
                        Self::mail(&mut tx, notice).await?;
                    }
                    CodeEffect::ChangeEmail { notice, undo } => {
                        let target = payload.ok_or_else(|| corrupt("verification_code"))?;
                        let email = Email::parse(&target)?;
                        Self::set_verified_email(&mut tx, account, audit.pool_id, &email, now).await?;
                        if let Some(notice) = notice {
                            Self::mail(&mut tx, notice).await?;
                        }
                        if let Some(undo) = undo {
                            sqlx::query(
                                "INSERT INTO email_change_undo (token_hash, pool_id, account_id, old_email, \
                                 changed_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                            )
                            .bind(&undo.token_hash)
                            .bind(audit.pool_id.to_string())
                            .bind(&acc)
                            .bind(&undo.old_email)
                            .bind(now)
                            .bind(undo.expires_at)
                            .execute(&mut *tx)
                            .await?;
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

            async fn find_email_undo(&self, pool: PoolId, token_hash: &str, now: i64) -> Result<Option<EmailUndoRecord>, Error> {
                let row: Option<(String, String, i64)> = sqlx::query_as(
                    "SELECT account_id, old_email, changed_at FROM email_change_undo \
                     WHERE token_hash = $1 AND pool_id = $2 AND expires_at > $3",
                )
                .bind(token_hash)
                .bind(pool.to_string())
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|(account, old_email, changed_at)| {
                    Ok(EmailUndoRecord {
                        account_id: AccountId::parse(&account).ok_or_else(|| corrupt("email_change_undo"))?,
                        old_email,
                        changed_at,
                    })
                })
                .transpose()
            }

            async fn undo_email_change(
                &self,
                token_hash: &str,
                undo: &EmailUndoRecord,
                now: i64,
                recovery: &NewCode,
                mail: &OutboxMail,
                audit: &AuditEvent,
            ) -> Result<(), Error> {
                let acc = undo.account_id.to_string();
                let pool = audit.pool_id.to_string();
                let old = Email::parse(&undo.old_email)?;
                let mut tx = self.begin().await?;
                // Single use: whoever deletes the row undoes the change.
                let consumed = sqlx::query(
                    "DELETE FROM email_change_undo WHERE token_hash = $1 AND account_id = $2 AND expires_at > $3",
                )
                .bind(token_hash)
                .bind(&acc)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if consumed == 0 {
                    return Err(Error::CodeInvalid);
                }
                // The old address is free again since the change: an unconfirmed sign-up that
                // took it meanwhile cannot be the owner's (only the mailbox can confirm it).
                let holder: Option<(String, String)> = sqlx::query_as(
                    "SELECT a.id, a.status FROM email_credential e JOIN account a ON a.id = e.account_id \
                     WHERE e.pool_id = $1 AND e.email_normalized = $2",
                )
                .bind(&pool)
                .bind(old.normalized())
                .fetch_optional(&mut *tx)
                .await?;
                match holder {
                    Some((id, _)) if id == acc => {}
                    Some((id, status)) if status == "pending" => {
                        sqlx::query("DELETE FROM account WHERE id = $1")
                            .bind(&id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    Some(_) => return Err(Error::EmailTaken),
                    None => {}
                }
                Self::set_verified_email(&mut tx, undo.account_id, audit.pool_id, &old, now).await?;
                // A password set, or a wallet linked, after the change was set or linked by
                // whoever made it.
                sqlx::query("DELETE FROM password_credential WHERE account_id = $1 AND updated_at >= $2")
                    .bind(&acc)
                    .bind(undo.changed_at)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM wallet_credential WHERE account_id = $1 AND created_at >= $2")
                    .bind(&acc)
                    .bind(undo.changed_at)
                    .execute(&mut *tx)
                    .await?;
                Self::revoke(&mut tx, undo.account_id, RevokeScope::All, now, "email_change_undone").await?;
                Self::cancel_email_changes(&mut tx, undo.account_id).await?;
                // Links of later changes are moot now; an earlier change's link stays, so the
                // undo of a change made after a hijack never takes the owner's link away.
                sqlx::query("DELETE FROM email_change_undo WHERE account_id = $1 AND changed_at >= $2")
                    .bind(&acc)
                    .bind(undo.changed_at)
                    .execute(&mut *tx)
                    .await?;
                Self::code(&mut tx, recovery).await?;
                Self::mail(&mut tx, mail).await?;
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn find_audit_events(&self, account: AccountId, kinds: &[&str], since: i64, limit: i64) -> Result<Vec<AuditRecord>, Error> {
                // Kinds are the caller's own constants; one placeholder each.
                let placeholders: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 4)).collect();
                let sql = format!(
                    "SELECT kind, detail, created_at FROM audit_event WHERE account_id = $1 \
                     AND created_at >= $2 AND kind IN ({}) ORDER BY id DESC LIMIT $3",
                    placeholders.join(", ")
                );
                let mut q = sqlx::query_as::<_, (String, String, i64)>(&sql)
                    .bind(account.to_string())
                    .bind(since)
                    .bind(limit);
                for k in kinds {
                    q = q.bind(*k);
                }
                q.fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(|(kind, detail, created_at)| {
                        Ok(AuditRecord {
                            kind,
                            detail: serde_json::from_str(&detail).map_err(|_| corrupt("audit_event"))?,
                            created_at,
                        })
                    })
                    .collect()
            }

            async fn replace_password_hash(&self, account: AccountId, old: &str, new: &str, audit: &AuditEvent) -> Result<bool, Error> {
                let mut tx = self.begin().await?;
                let n = sqlx::query("UPDATE password_credential SET hash = $3 WHERE account_id = $1 AND hash = $2")
                    .bind(account.to_string())
                    .bind(old)
                    .bind(new)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 1 {
                    Self::audit(&mut tx, audit).await?;
                }
                tx.commit().await?;
                Ok(n == 1)
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
