//! Identity providers and federated identities: the SQL stores' `FederationStore`, expanded
//! by `sql_store!` (in `../sql.rs`) once per backend. Linking relies on the unique key
//! (pool, IdP, subject): two accounts racing for one identity cannot both have it.

macro_rules! federation_store {
    ($store:ident) => {
        static IDP_COLS: &str = "pool_id, name, config, secrets_sealed, created_at, updated_at";
        static IDENTITY_COLS: &str = "id, pool_id, account_id, provider, subject, email, created_at, last_used_at";

        type IdpRow = (String, String, String, Option<Vec<u8>>, i64, i64);
        type IdentityRow = (String, String, String, String, String, Option<String>, i64, Option<i64>);

        fn idp_row(row: IdpRow) -> Result<IdpRecord, Error> {
            let (pool_id, name, config, secrets_sealed, created_at, updated_at) = row;
            Ok(IdpRecord {
                pool_id: id(&pool_id, PoolId::parse, "identity provider")?,
                name,
                config: serde_json::from_str(&config).map_err(|_| corrupt("identity provider"))?,
                secrets_sealed,
                created_at,
                updated_at,
            })
        }

        fn identity_row(row: IdentityRow) -> Result<IdentityRecord, Error> {
            let (ident, pool_id, account_id, provider, subject, email, created_at, last_used_at) = row;
            Ok(IdentityRecord {
                id: uuid::Uuid::parse_str(&ident).map_err(|_| corrupt("federated identity"))?,
                pool_id: id(&pool_id, PoolId::parse, "federated identity")?,
                account_id: id(&account_id, AccountId::parse, "federated identity")?,
                provider,
                subject,
                email,
                created_at,
                last_used_at,
            })
        }

        impl $store {
            async fn identity(c: &mut Conn, i: &IdentityRecord) -> Result<(), Error> {
                sqlx::query(
                    "INSERT INTO federated_identity (id, pool_id, account_id, provider, subject, email, created_at, last_used_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(i.id.to_string())
                .bind(i.pool_id.to_string())
                .bind(i.account_id.to_string())
                .bind(&i.provider)
                .bind(&i.subject)
                .bind(&i.email)
                .bind(i.created_at)
                .bind(i.last_used_at)
                .execute(&mut *c)
                .await
                .map_err(|e| if violates(&e, &IDENTITY_KEY) { Error::IdentityTaken } else { e.into() })?;
                Ok(())
            }
        }

        #[async_trait]
        impl FederationStore for $store {
            async fn insert_idp(&self, idp: &IdpRecord, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                sqlx::query(&format!("INSERT INTO identity_provider ({IDP_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"))
                    .bind(idp.pool_id.to_string())
                    .bind(&idp.name)
                    .bind(json_text(&idp.config)?)
                    .bind(&idp.secrets_sealed)
                    .bind(idp.created_at)
                    .bind(idp.updated_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| if violates(&e, &IDP_KEY) { Error::IdpExists } else { e.into() })?;
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_idp(&self, idp: &IdpRecord, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                let n = sqlx::query(
                    "UPDATE identity_provider SET config = $3, secrets_sealed = COALESCE($4, secrets_sealed), \
                     updated_at = $5 WHERE pool_id = $1 AND name = $2",
                )
                .bind(idp.pool_id.to_string())
                .bind(&idp.name)
                .bind(json_text(&idp.config)?)
                .bind(&idp.secrets_sealed)
                .bind(idp.updated_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 0 {
                    return Err(Error::IdpNotFound);
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_idp(&self, pool: PoolId, name: &str, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                let (linked,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM federated_identity WHERE pool_id = $1 AND provider = $2",
                )
                .bind(pool.to_string())
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
                if linked > 0 {
                    return Err(Error::IdpInUse);
                }
                let n = sqlx::query("DELETE FROM identity_provider WHERE pool_id = $1 AND name = $2")
                    .bind(pool.to_string())
                    .bind(name)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err(Error::IdpNotFound);
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_idps(&self, pool: PoolId) -> Result<Vec<IdpRecord>, Error> {
                sqlx::query_as::<_, IdpRow>(&format!("SELECT {IDP_COLS} FROM identity_provider WHERE pool_id = $1 ORDER BY name"))
                    .bind(pool.to_string())
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(idp_row)
                    .collect()
            }

            async fn find_idp(&self, pool: PoolId, name: &str) -> Result<Option<IdpRecord>, Error> {
                sqlx::query_as::<_, IdpRow>(&format!("SELECT {IDP_COLS} FROM identity_provider WHERE pool_id = $1 AND name = $2"))
                    .bind(pool.to_string())
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(idp_row)
                    .transpose()
            }

            async fn find_account_by_identity(&self, pool: PoolId, provider: &str, subject: &str) -> Result<Option<(AccountBundle, IdentityRecord)>, Error> {
                let Some(identity) = sqlx::query_as::<_, IdentityRow>(&format!(
                    "SELECT {IDENTITY_COLS} FROM federated_identity WHERE pool_id = $1 AND provider = $2 AND subject = $3"
                ))
                .bind(pool.to_string())
                .bind(provider)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await?
                .map(identity_row)
                .transpose()? else {
                    return Ok(None);
                };
                Ok(self.find_account(pool, identity.account_id).await?.map(|b| (b, identity)))
            }

            async fn insert_federated_account(&self, new: &NewFederatedAccount<'_>) -> Result<(), Error> {
                let account = new.account;
                let mut tx = self.begin().await?;
                Self::insert_account(&mut tx, account).await?;
                if let Some(email) = new.verified_email {
                    let normalized = Email::parse(email)?.normalized();
                    sqlx::query(
                        "INSERT INTO email_credential (account_id, pool_id, email, email_normalized, created_at, verified_at) \
                         VALUES ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(account.id.to_string())
                    .bind(account.pool_id.to_string())
                    .bind(email)
                    .bind(normalized)
                    .bind(account.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| if violates(&e, &EMAIL_KEY) { Error::EmailTaken } else { e.into() })?;
                }
                Self::identity(&mut tx, new.identity).await?;
                Self::session(&mut tx, new.session).await?;
                for ev in new.audit {
                    Self::audit(&mut tx, ev).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn insert_identity(&self, identity: &IdentityRecord, notice: Option<&OutboxMail>, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                Self::lock_account(&mut tx, identity.account_id).await?;
                Self::identity(&mut tx, identity).await?;
                if let Some(m) = notice {
                    Self::mail(&mut tx, m).await?;
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_identity(&self, account: AccountId, provider: &str, notice: Option<&OutboxMail>, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                // Two removals at once must not both take "the last credential".
                Self::lock_account(&mut tx, account).await?;
                let n = sqlx::query("DELETE FROM federated_identity WHERE account_id = $1 AND provider = $2")
                    .bind(account.to_string())
                    .bind(provider)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err(Error::IdentityNotFound);
                }
                Self::credential_removed(&mut tx, account, notice, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_identities(&self, account: AccountId) -> Result<Vec<IdentityRecord>, Error> {
                sqlx::query_as::<_, IdentityRow>(&format!(
                    "SELECT {IDENTITY_COLS} FROM federated_identity WHERE account_id = $1 ORDER BY created_at, id"
                ))
                .bind(account.to_string())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(identity_row)
                .collect()
            }

            async fn identity_used(&self, identity: &IdentityRecord, attributes: Option<&Map<String, Value>>, now: i64) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                sqlx::query("UPDATE federated_identity SET last_used_at = $2, email = $3 WHERE id = $1")
                    .bind(identity.id.to_string())
                    .bind(now)
                    .bind(&identity.email)
                    .execute(&mut *tx)
                    .await?;
                if let Some(attrs) = attributes {
                    sqlx::query("UPDATE account SET attributes = $2, updated_at = $3 WHERE id = $1")
                        .bind(identity.account_id.to_string())
                        .bind(json_text(attrs)?)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(super) use federation_store;
