//! The operators' directory (pools, account search and administration, groups, the audit
//! reader): the SQL stores' trait implementation, expanded by `sql_store!` (in `../sql.rs`)
//! once per backend from one SQL text. Optional filters are `($n IS NULL OR …)`, so each
//! list is one statement text; pages are keyset pages over the indexes of migration 0005.

macro_rules! directory_store {
    ($store:ident) => {
        /// The account search: the bundle's columns, the filters, the keyset page.
        static SEARCH_ACCOUNTS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "{BUNDLE_SELECT}{WALLETS_JSON}, {GROUPS_JSON}{BUNDLE_FROM} WHERE a.pool_id = $1 \
                 AND ($2 IS NULL OR substr(e.email_normalized, 1, length($2)) = $2) \
                 AND ($3 IS NULL OR a.id IN (SELECT account_id FROM wallet_credential \
                   WHERE pool_id = $1 AND address_key = $3)) \
                 AND ($4 IS NULL OR a.status = $4) \
                 AND ($5 IS NULL OR a.created_at >= $5) AND ($6 IS NULL OR a.created_at < $6) \
                 AND (a.created_at > $7 OR (a.created_at = $7 AND a.id > $8)) \
                 ORDER BY a.created_at, a.id LIMIT $9"
            )
        });

        #[async_trait]
        impl DirectoryStore for $store {
            async fn insert_pool(&self, pool: &PoolRecord, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO pool (id, name, config, created_at, version, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(pool.id.to_string())
                .bind(&pool.name)
                .bind(json_text(&pool.config)?)
                .bind(pool.created_at)
                .bind(pool.version)
                .bind(pool.updated_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| if violates(&e, &POOL_NAME_KEY) { Error::PoolExists } else { e.into() })?;
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_pools(&self, after: Option<&str>, limit: i64) -> Result<Vec<PoolRecord>, Error> {
                sqlx::query_as::<_, PoolRow>(&format!(
                    "SELECT {POOL_COLS} FROM pool WHERE name > $1 ORDER BY name LIMIT $2"
                ))
                .bind(after.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(PoolRow::into_record)
                .collect()
            }

            async fn update_pool_config(
                &self,
                pool: PoolId,
                config: &PoolConfig,
                expected: i64,
                now: i64,
                audit: &AuditEvent,
            ) -> Result<PoolRecord, Error> {
                let mut tx = self.begin().await?;
                let row = sqlx::query_as::<_, PoolRow>(&format!(
                    "UPDATE pool SET config = $2, version = version + 1, updated_at = $3 \
                     WHERE id = $1 AND version = $4 RETURNING {POOL_COLS}"
                ))
                .bind(pool.to_string())
                .bind(json_text(config)?)
                .bind(now)
                .bind(expected)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    let exists: Option<(i64,)> = sqlx::query_as("SELECT version FROM pool WHERE id = $1")
                        .bind(pool.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                    return Err(if exists.is_some() { Error::VersionMismatch } else { Error::PoolNotFound });
                };
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                row.into_record()
            }

            async fn delete_pool(&self, pool: PoolId, force: bool, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                let id = pool.to_string();
                // The pool's row locked first: a sign-up committing meanwhile (its account's
                // foreign key takes a share lock on it) either lands before the count or
                // waits and then fails; none is deleted without `force`.
                let found: Option<(String,)> =
                    sqlx::query_as(&format!("SELECT id FROM pool WHERE id = $1{FOR_UPDATE}"))
                        .bind(&id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if found.is_none() {
                    return Err(Error::PoolNotFound);
                }
                let (accounts,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM account WHERE pool_id = $1 LIMIT 1) t",
                )
                .bind(&id)
                .fetch_one(&mut *tx)
                .await?;
                if accounts > 0 && !force {
                    return Err(Error::PoolNotEmpty);
                }
                // Accounts take their credentials, sessions (and refresh tokens), codes, undo
                // links and memberships with them (ON DELETE CASCADE); the rest is the pool's.
                for sql in [
                    "DELETE FROM account WHERE pool_id = $1",
                    "DELETE FROM session WHERE pool_id = $1",
                    "DELETE FROM account_group WHERE pool_id = $1",
                    "DELETE FROM app_client WHERE pool_id = $1",
                    "DELETE FROM signing_key WHERE pool_id = $1",
                    "DELETE FROM mail_outbox WHERE pool_id = $1",
                    "DELETE FROM email_change_undo WHERE pool_id = $1",
                ] {
                    sqlx::query(sql).bind(&id).execute(&mut *tx).await?;
                }
                let gone = sqlx::query("DELETE FROM pool WHERE id = $1")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if gone == 0 {
                    return Err(Error::PoolNotFound);
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn search_accounts(
                &self,
                pool: PoolId,
                filter: &AccountFilter,
                after: Option<AccountCursor>,
                limit: i64,
            ) -> Result<Vec<AccountBundle>, Error> {
                let (after_time, after_id) = match after {
                    Some(c) => (c.created_at, c.id.to_string()),
                    None => (i64::MIN, String::new()),
                };
                sqlx::query_as::<_, BundleRow>(SEARCH_ACCOUNTS.as_str())
                    .bind(pool.to_string())
                    .bind(&filter.email_prefix)
                    .bind(&filter.wallet_key)
                    .bind(filter.status.map(AccountStatus::as_str))
                    .bind(filter.created_since)
                    .bind(filter.created_before)
                    .bind(after_time)
                    .bind(after_id)
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?
                    .into_iter()
                    .map(BundleRow::into_bundle)
                    .collect()
            }

            async fn insert_admin_account(&self, new: &NewAdminAccount, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                Self::insert_account(&mut tx, &new.account).await?;
                let now = new.account.created_at;
                if let Some((email, verified)) = &new.email {
                    sqlx::query(
                        "INSERT INTO email_credential (account_id, pool_id, email, email_normalized, \
                         verified_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(new.account.id.to_string())
                    .bind(new.account.pool_id.to_string())
                    .bind(email.as_str())
                    .bind(email.normalized())
                    .bind(verified.then_some(now))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| if violates(&e, &EMAIL_KEY) { Error::EmailTaken } else { e.into() })?;
                }
                for wallet in &new.wallets {
                    Self::wallet(&mut tx, wallet).await?;
                }
                if let Some(hash) = &new.password_hash {
                    sqlx::query(
                        "INSERT INTO password_credential (account_id, hash, created_at, updated_at) \
                         VALUES ($1, $2, $3, $3)",
                    )
                    .bind(new.account.id.to_string())
                    .bind(hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                for group in &new.groups {
                    sqlx::query(
                        "INSERT INTO group_member (group_id, account_id, created_at) \
                         SELECT id, $3, $4 FROM account_group WHERE pool_id = $1 AND name = $2",
                    )
                    .bind(new.account.pool_id.to_string())
                    .bind(group)
                    .bind(new.account.id.to_string())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                if let Some((code, mail)) = &new.invitation {
                    Self::code(&mut tx, code).await?;
                    Self::mail(&mut tx, mail).await?;
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn patch_account(
                &self,
                pool: PoolId,
                account: AccountId,
                patch: &AccountPatch,
                now: i64,
                audit: &AuditEvent,
            ) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                let attributes = patch.attributes.as_ref().map(json_text).transpose()?;
                let found = sqlx::query(
                    "UPDATE account SET updated_at = $3, attributes = COALESCE($4, attributes), \
                     status = COALESCE($5, status) WHERE pool_id = $1 AND id = $2",
                )
                .bind(pool.to_string())
                .bind(account.to_string())
                .bind(now)
                .bind(attributes)
                .bind(patch.status.map(AccountStatus::as_str))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if found == 0 {
                    return Err(Error::AccountNotFound);
                }
                if patch.status == Some(AccountStatus::Disabled) {
                    Self::revoke(&mut tx, account, RevokeScope::All, now, "account_disabled").await?;
                }
                if let Some(verified) = patch.email_verified {
                    sqlx::query(
                        "UPDATE email_credential SET verified_at = CASE WHEN $2 THEN \
                         COALESCE(verified_at, $3) ELSE NULL END WHERE account_id = $1",
                    )
                    .bind(account.to_string())
                    .bind(verified)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_account(
                &self,
                pool: PoolId,
                account: AccountId,
                notice: Option<&OutboxMail>,
                audit: &AuditEvent,
            ) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                // Codes and invitations still queued for its address die with it.
                sqlx::query(
                    "DELETE FROM mail_outbox WHERE status = 'pending' AND pool_id = $1 AND recipient = \
                     (SELECT email FROM email_credential WHERE account_id = $2)",
                )
                .bind(pool.to_string())
                .bind(account.to_string())
                .execute(&mut *tx)
                .await?;
                let gone = sqlx::query("DELETE FROM account WHERE pool_id = $1 AND id = $2")
                    .bind(pool.to_string())
                    .bind(account.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if gone == 0 {
                    return Err(Error::AccountNotFound);
                }
                if let Some(mail) = notice {
                    Self::mail(&mut tx, mail).await?;
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_sessions(&self, account: AccountId, now: i64) -> Result<Vec<SessionRecord>, Error> {
                sqlx::query_as::<_, SessionRow>(&format!(
                    "SELECT {SESSION_COLS} FROM session s WHERE s.account_id = $1 \
                     AND s.revoked_at IS NULL AND s.expires_at > $2 \
                     ORDER BY s.last_used_at DESC, s.id LIMIT 500"
                ))
                .bind(account.to_string())
                .bind(now)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(SessionRow::into_record)
                .collect()
            }

            async fn clear_mfa(&self, account: AccountId, notice: Option<&OutboxMail>, audit: &AuditEvent) -> Result<u64, Error> {
                let mut tx = self.begin().await?;
                // Counted: the factors (an app, email codes); the backup codes go with them.
                let mut n = 0;
                for (table, counted) in [("totp_credential", true), ("mfa_email", true), ("mfa_backup_code", false)] {
                    let removed = sqlx::query(&format!("DELETE FROM {table} WHERE account_id = $1"))
                        .bind(account.to_string())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    n += if counted { removed } else { 0 };
                }
                if let (Some(m), true) = (notice, n > 0) {
                    Self::mail(&mut tx, m).await?;
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(n)
            }

            async fn insert_group(&self, g: &GroupRecord, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO account_group (id, pool_id, name, description, precedence, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(g.id.to_string())
                .bind(g.pool_id.to_string())
                .bind(&g.name)
                .bind(&g.description)
                .bind(g.precedence)
                .bind(g.created_at)
                .bind(g.updated_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| if violates(&e, &GROUP_NAME_KEY) { Error::GroupExists } else { e.into() })?;
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_groups(&self, pool: PoolId, after: Option<&str>, limit: i64) -> Result<Vec<GroupRecord>, Error> {
                sqlx::query_as::<_, GroupRow>(&format!(
                    "SELECT {GROUP_COLS} FROM account_group WHERE pool_id = $1 AND name > $2 \
                     ORDER BY name LIMIT $3"
                ))
                .bind(pool.to_string())
                .bind(after.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.read)
                .await?
                .into_iter()
                .map(GroupRow::into_record)
                .collect()
            }

            async fn find_group(&self, pool: PoolId, name: &str) -> Result<Option<GroupRecord>, Error> {
                sqlx::query_as::<_, GroupRow>(&format!(
                    "SELECT {GROUP_COLS} FROM account_group WHERE pool_id = $1 AND name = $2"
                ))
                .bind(pool.to_string())
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .map(GroupRow::into_record)
                .transpose()
            }

            async fn update_group(&self, g: &GroupRecord, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                let found = sqlx::query(
                    "UPDATE account_group SET description = $3, precedence = $4, updated_at = $5 \
                     WHERE pool_id = $1 AND name = $2",
                )
                .bind(g.pool_id.to_string())
                .bind(&g.name)
                .bind(&g.description)
                .bind(g.precedence)
                .bind(g.updated_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if found == 0 {
                    return Err(Error::GroupNotFound);
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_group(&self, pool: PoolId, name: &str, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                let gone = sqlx::query("DELETE FROM account_group WHERE pool_id = $1 AND name = $2")
                    .bind(pool.to_string())
                    .bind(name)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if gone == 0 {
                    return Err(Error::GroupNotFound);
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn add_member(
                &self,
                pool: PoolId,
                group: &str,
                account: AccountId,
                now: i64,
                audit: &AuditEvent,
            ) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                // Both rows locked against a concurrent delete until the membership is in.
                let group_id: Option<(String,)> =
                    sqlx::query_as(&format!("SELECT id FROM account_group WHERE pool_id = $1 AND name = $2{FOR_SHARE}"))
                        .bind(pool.to_string())
                        .bind(group)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some((group_id,)) = group_id else {
                    return Err(Error::GroupNotFound);
                };
                let member: Option<(String,)> =
                    sqlx::query_as(&format!("SELECT id FROM account WHERE pool_id = $1 AND id = $2{FOR_SHARE}"))
                        .bind(pool.to_string())
                        .bind(account.to_string())
                        .fetch_optional(&mut *tx)
                        .await?;
                if member.is_none() {
                    return Err(Error::AccountNotFound);
                }
                let added = sqlx::query(
                    "INSERT INTO group_member (group_id, account_id, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (group_id, account_id) DO NOTHING",
                )
                .bind(&group_id)
                .bind(account.to_string())
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if added > 0 {
                    Self::audit(&mut tx, audit).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn remove_member(
                &self,
                pool: PoolId,
                group: &str,
                account: AccountId,
                audit: &AuditEvent,
            ) -> Result<bool, Error> {
                let mut tx = self.begin().await?;
                let gone = sqlx::query(
                    "DELETE FROM group_member WHERE account_id = $3 AND group_id = \
                     (SELECT id FROM account_group WHERE pool_id = $1 AND name = $2)",
                )
                .bind(pool.to_string())
                .bind(group)
                .bind(account.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if gone > 0 {
                    Self::audit(&mut tx, audit).await?;
                }
                tx.commit().await?;
                Ok(gone > 0)
            }

            async fn list_members(
                &self,
                pool: PoolId,
                group: &str,
                after: Option<AccountId>,
                limit: i64,
            ) -> Result<Vec<AccountId>, Error> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT m.account_id FROM group_member m JOIN account_group g ON g.id = m.group_id \
                     WHERE g.pool_id = $1 AND g.name = $2 AND m.account_id > $3 \
                     ORDER BY m.account_id LIMIT $4",
                )
                .bind(pool.to_string())
                .bind(group)
                .bind(after.map(|a| a.to_string()).unwrap_or_default())
                .bind(limit)
                .fetch_all(&self.read)
                .await?;
                rows.into_iter()
                    .map(|(a,)| id(&a, AccountId::parse, "group member"))
                    .collect()
            }

            async fn list_audit(
                &self,
                pool: PoolId,
                filter: &AuditFilter,
                before: Option<i64>,
                limit: i64,
            ) -> Result<Vec<AuditEntry>, Error> {
                let rows: Vec<(i64, Option<String>, String, String, i64)> = sqlx::query_as(LIST_AUDIT)
                .bind(pool.to_string())
                .bind(filter.account.map(|a| a.to_string()))
                .bind(&filter.kind)
                .bind(filter.since)
                .bind(filter.until)
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(&self.read)
                .await?;
                rows.into_iter()
                    .map(|(id_, account, kind, detail, created_at)| {
                        Ok(AuditEntry {
                            id: id_,
                            account_id: account.map(|a| id(&a, AccountId::parse, "audit_event")).transpose()?,
                            kind,
                            detail: serde_json::from_str(&detail).map_err(|_| corrupt("audit_event"))?,
                            created_at,
                        })
                    })
                    .collect()
            }

            async fn purge_pool_audit(&self, pool: PoolId, before: i64, batch: i64, batches: u32) -> Result<u64, Error> {
                let mut total = 0;
                for _ in 0..batches {
                    let n = sqlx::query(PURGE_POOL_AUDIT)
                        .bind(pool.to_string())
                        .bind(before)
                        .bind(batch)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                    total += n;
                    if n < batch as u64 {
                        break;
                    }
                }
                Ok(total)
            }
        }
    };
}

pub(super) use directory_store;
