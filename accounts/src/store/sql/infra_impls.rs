//! Pools, signing keys and the mail outbox:
//! the SQL stores' trait implementations, which `sql_store!` (in `../sql.rs`) expands
//! once per backend from one SQL text for PostgreSQL and SQLite.

macro_rules! infra_store {
    ($store:ident) => {
        #[async_trait]
        impl PoolStore for $store {
            async fn ensure_pool(&self, name: &str, config: &PoolConfig, now: i64) -> Result<PoolRecord, Error> {
                sqlx::query(
                    "INSERT INTO pool (id, name, config, created_at, version, updated_at) VALUES ($1, $2, $3, $4, 1, $4) \
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

            async fn list_pool_names(&self, limit: i64) -> Result<Vec<String>, Error> {
                let rows: Vec<(String,)> = sqlx::query_as("SELECT name FROM pool ORDER BY name LIMIT $1")
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(|(n,)| n).collect())
            }

            async fn find_pool(&self, id: PoolId) -> Result<Option<PoolRecord>, Error> {
                sqlx::query_as::<_, PoolRow>(&format!("SELECT {POOL_COLS} FROM pool WHERE id = $1"))
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(PoolRow::into_record)
                    .transpose()
            }

            async fn find_pool_by_name(&self, name: &str) -> Result<Option<PoolRecord>, Error> {
                sqlx::query_as::<_, PoolRow>(&format!("SELECT {POOL_COLS} FROM pool WHERE name = $1"))
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(PoolRow::into_record)
                    .transpose()
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

            async fn revoke_signing_key(&self, pool: PoolId, kid: &str, replacement: &SigningKeyRecord, audit: &AuditEvent) -> Result<bool, Error> {
                let now = replacement.created_at;
                let mut tx = self.begin().await?;
                let found: Option<(String, Option<i64>)> = sqlx::query_as(&format!(
                    "SELECT alg, retires_at FROM signing_key WHERE pool_id = $1 AND kid = $2{FOR_UPDATE}"
                ))
                .bind(pool.to_string())
                .bind(kid)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((alg, retires_at)) = found else {
                    return Ok(false);
                };
                if retires_at.is_some_and(|r| r <= now) {
                    return Ok(false);
                }
                sqlx::query("UPDATE signing_key SET retires_at = $3 WHERE pool_id = $1 AND kid = $2")
                    .bind(pool.to_string())
                    .bind(kid)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                // The live key of its algorithm: the replacement signs at once.
                if retires_at.is_none() && alg == replacement.alg {
                    sqlx::query(
                        "INSERT INTO signing_key (kid, pool_id, alg, private_sealed, public_jwk, created_at, \
                         activates_at, retires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
                    )
                    .bind(&replacement.kid)
                    .bind(pool.to_string())
                    .bind(&replacement.alg)
                    .bind(&replacement.private_sealed)
                    .bind(json_text(&replacement.public_jwk)?)
                    .bind(now)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn insert_signing_key(&self, key: &SigningKeyRecord, supersede: Option<i64>) -> Result<bool, Error> {
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
                let inserted = sqlx::query(
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
                .await;
                match inserted {
                    Ok(_) => {}
                    Err(e) if violates(&e, &LIVE_KEY) => return Ok(false),
                    Err(e) => return Err(e.into()),
                }
                tx.commit().await?;
                Ok(true)
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
        impl OutboxStore for $store {
            async fn enqueue(&self, mail: &OutboxMail) -> Result<(), Error> {
                let mut c = self.pool.acquire().await?;
                Self::mail(&mut c, mail).await
            }

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
                let rows: Vec<MailRow> = sqlx::query_as(CLAIM_MAIL)
                .bind(now)
                .bind(now + lease)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|r| {
                        Ok(PendingMail {
                            id: uuid::Uuid::parse_str(&r.id).map_err(|_| corrupt("mail_outbox"))?,
                            pool_id: PoolId::parse(&r.pool_id).ok_or_else(|| corrupt("mail_outbox"))?,
                            recipient: r.recipient,
                            kind: r.kind,
                            body_sealed: r.body_sealed.unwrap_or_default(),
                            attempts: r.attempts,
                        })
                    })
                    .collect()
            }

            async fn complete_job(&self, job: uuid::Uuid, now: i64, code: Option<&NewCode>, mail: Option<&OutboxMail>, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                let done = sqlx::query(
                    "UPDATE mail_outbox SET status = 'sent', sent_at = $2, body_sealed = NULL, \
                     locked_until = NULL WHERE id = $1 AND status = 'pending'",
                )
                .bind(job.to_string())
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done == 0 {
                    // Done by another worker whose lease ran out meanwhile: nothing to add.
                    return Ok(());
                }
                if let Some(code) = code {
                    Self::code(&mut tx, code).await?;
                }
                if let Some(m) = mail {
                    Self::mail(&mut tx, m).await?;
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
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

            async fn count_pending_mail(&self) -> Result<i64, Error> {
                let (n,): (i64,) = sqlx::query_as(COUNT_PENDING_MAIL).fetch_one(&self.read).await?;
                Ok(n)
            }
        }

        #[async_trait]
        impl MaintenanceStore for $store {
            async fn renormalize_emails(&self, now: i64) -> Result<u64, Error> {
                const TASK: &str = "email_nfkc_idna";
                let done: Option<(String,)> = sqlx::query_as("SELECT name FROM maintenance WHERE name = $1")
                    .bind(TASK)
                    .fetch_optional(&self.pool)
                    .await?;
                if done.is_some() {
                    return Ok(0);
                }
                // Only non-ASCII addresses can differ: for ASCII ones the rules agree.
                let rows: Vec<(String, String, String)> = sqlx::query_as(&format!(
                    "SELECT account_id, email, email_normalized FROM email_credential WHERE {NON_ASCII_EMAIL}"
                ))
                .fetch_all(&self.pool)
                .await?;
                let mut changed = 0;
                for (account, email, normalized) in rows {
                    let Ok(parsed) = Email::parse(&email) else {
                        tracing::warn!(account = %account, "a stored address no longer parses; left as it is");
                        continue;
                    };
                    if parsed.as_str() == email && parsed.normalized() == normalized {
                        continue;
                    }
                    let updated = sqlx::query(
                        "UPDATE email_credential SET email = $2, email_normalized = $3 WHERE account_id = $1",
                    )
                    .bind(&account)
                    .bind(parsed.as_str())
                    .bind(parsed.normalized())
                    .execute(&self.pool)
                    .await;
                    match updated {
                        Ok(_) => changed += 1,
                        Err(e) if violates(&e, &EMAIL_KEY) => {
                            tracing::warn!(account = %account, "a stored address normalises to another account's; left as it is");
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                sqlx::query("INSERT INTO maintenance (name, done_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                    .bind(TASK)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(changed)
            }

            async fn purge_expired(&self, cutoffs: &PurgeCutoffs, batch: i64, batches: u32) -> Result<PurgeReport, Error> {
                // Each statement deletes one batch found through an index (see migration
                // 0004); rows cascade to what hangs off them (a session's refresh tokens, a
                // pending account's email and codes).
                let mut plan: Vec<(&str, i64)> = vec![
                    (PURGE_SESSIONS, cutoffs.sessions_expired_before),
                    (PURGE_CODES, cutoffs.codes_expired_before),
                    (PURGE_UNDO_LINKS, cutoffs.codes_expired_before),
                    (PURGE_PENDING_ACCOUNTS, cutoffs.pending_created_before),
                    (PURGE_SENT_MAIL, cutoffs.mail_created_before),
                    (PURGE_FAILED_MAIL, cutoffs.mail_created_before),
                ];
                if let Some(before) = cutoffs.audit_before {
                    plan.push((PURGE_AUDIT, before));
                }
                let mut counts = Vec::with_capacity(plan.len());
                for (sql, cutoff) in plan {
                    let mut total = 0u64;
                    for _ in 0..batches {
                        let n = sqlx::query(sql)
                            .bind(cutoff)
                            .bind(batch)
                            .execute(&self.pool)
                            .await?
                            .rows_affected();
                        total += n;
                        if n < u64::try_from(batch).unwrap_or(0) {
                            break;
                        }
                    }
                    counts.push(total);
                }
                let at = |i: usize| counts.get(i).copied().unwrap_or(0);
                Ok(PurgeReport {
                    sessions: at(0),
                    codes: at(1),
                    undo_links: at(2),
                    pending_accounts: at(3),
                    mail: at(4) + at(5),
                    audit_events: at(6),
                })
            }
        }
    };
}

pub(super) use infra_store;
