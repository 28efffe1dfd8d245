//! Sessions and refresh-token families:
//! the SQL stores' trait implementations, which `sql_store!` (in `../sql.rs`) expands
//! once per backend from one SQL text for PostgreSQL and SQLite.

macro_rules! session_store {
    ($store:ident) => {
        #[async_trait]
        impl SessionStore for $store {
            async fn insert_session(&self, new: &NewSession, password_hash: Option<&str>, audit: &AuditEvent) -> Result<(), Error> {
                if password_hash.is_none() {
                    // The common case in as few hand-offs as the backend allows: one statement
                    // on PostgreSQL, one script inside a transaction on SQLite.
                    let address_key = new.session.wallet.as_ref().map(|w| w.address.key());
                    let q = Self::bind_session(sqlx::query(NEW_SESSION_AUDITED), new)?
                        .bind(address_key)
                        .bind(audit.pool_id.to_string())
                        .bind(audit.account_id.map(|a| a.to_string()))
                        .bind(audit.kind)
                        .bind(json_text(&audit.detail)?)
                        .bind(audit.created_at);
                    // Nothing written: the account is not active (an operator disabled it
                    // meanwhile), which answers like a wrong password.
                    let written = if ONE_STATEMENT {
                        q.execute(&self.pool).await?.rows_affected()
                    } else {
                        let mut tx = self.begin().await?;
                        let n = q.execute(&mut *tx).await?.rows_affected();
                        tx.commit().await?;
                        n
                    };
                    if written == 0 {
                        return Err(Error::InvalidCredentials);
                    }
                    return Ok(());
                }
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
                    // And the account still active, its row locked against a concurrent disable.
                    let active: Option<(String,)> = sqlx::query_as(ACTIVE_ACCOUNT)
                        .bind(&account)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if active.is_none() {
                        return Err(Error::InvalidCredentials);
                    }
                    sqlx::query("UPDATE email_credential SET last_used_at = $2 WHERE account_id = $1")
                        .bind(&account)
                        .bind(new.session.created_at)
                        .execute(&mut *tx)
                        .await?;
                }
                Self::session(&mut tx, new).await?;
                if let Some(wallet) = &new.session.wallet {
                    let address_key = wallet.address.key();
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

            async fn rotate_refresh_token(&self, pool: PoolId, hash: &str, successor_hash: &str, client: Option<&str>, now: i64, grace: i64) -> Result<Rotation, Error> {
                let mut tx = self.begin().await?;
                // Mark first, then read: of two concurrent presentations exactly one marks it.
                // A refresh token is bound to its client (RFC 6749 §6): another's is unknown.
                let marked: Option<(String, i32)> = sqlx::query_as(ROTATE_MARK)
                .bind(hash)
                .bind(now)
                .bind(pool.to_string())
                .bind(client)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((session_id, generation)) = marked {
                    // The common case: this presentation rotated the token. The session's
                    // liveness (re-checked under the row lock: a revocation that committed
                    // meanwhile wins), its last use and the successor are one hand-off.
                    let live: Vec<SessionRow> = sqlx::query_as(ROTATE_LIVE)
                        .bind(&session_id)
                        .bind(now)
                        .bind(successor_hash)
                        .bind(generation + 1)
                        .fetch_all(&mut *tx)
                        .await?;
                    let Some(row) = live.into_iter().next() else { return Ok(Rotation::Invalid) };
                    let session = row.into_record()?;
                    tx.commit().await?;
                    return Ok(Rotation::Rotated(session));
                }
                let row: Option<RotationRow> = sqlx::query_as(&format!(
                    "SELECT rt.used_at, rt.generation, {SESSION_COLS} FROM refresh_token rt \
                     JOIN session s ON s.id = rt.session_id WHERE rt.token_hash = $1 AND s.pool_id = $2 \
                     AND s.client_id IS NOT DISTINCT FROM $3"
                ))
                .bind(hash)
                .bind(pool.to_string())
                .bind(client)
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
                if within_grace {
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
                    return Ok(Rotation::Repeated(session));
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

            async fn find_session_by_token(&self, pool: PoolId, hash: &str) -> Result<Option<SessionRecord>, Error> {
                sqlx::query_as::<_, SessionRow>(&format!(
                    "SELECT {SESSION_COLS} FROM refresh_token rt JOIN session s ON s.id = rt.session_id \
                     WHERE rt.token_hash = $1 AND s.pool_id = $2"
                ))
                .bind(hash)
                .bind(pool.to_string())
                .fetch_optional(&self.pool)
                .await?
                .map(SessionRow::into_record)
                .transpose()
            }

            async fn revoke_session_by_token(&self, pool: PoolId, hash: &str, client: Option<&str>, now: i64, reason: &str) -> Result<bool, Error> {
                let mut tx = self.begin().await?;
                let row: Option<SessionRow> = sqlx::query_as(&format!(
                    "SELECT {SESSION_COLS} FROM refresh_token rt JOIN session s ON s.id = rt.session_id \
                     WHERE rt.token_hash = $1 AND s.pool_id = $2 AND s.revoked_at IS NULL \
                     AND s.client_id IS NOT DISTINCT FROM $3"
                ))
                .bind(hash)
                .bind(pool.to_string())
                .bind(client)
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

            async fn replace_session(&self, old: SessionId, new: SessionId, now: i64, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                sqlx::query("UPDATE session SET parent_id = $2 WHERE parent_id = $1")
                    .bind(old.to_string())
                    .bind(new.to_string())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE session SET revoked_at = $2, revoked_reason = 'replaced' WHERE id = $1 AND revoked_at IS NULL")
                    .bind(old.to_string())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn revoke_sessions(&self, account: AccountId, scope: RevokeScope, now: i64, audit: &AuditEvent) -> Result<u64, Error> {
                let mut tx = self.begin().await?;
                let n = Self::revoke(&mut tx, account, scope, now, audit.kind).await?;
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(n)
            }
        }
    };
}

pub(super) use session_store;
