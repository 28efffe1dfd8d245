//! App clients: the SQL stores' trait implementation, expanded by `sql_store!` (in
//! `../sql.rs`) once per backend from one SQL text.

macro_rules! client_store {
    ($store:ident) => {
        #[async_trait]
        impl ClientStore for $store {
            async fn insert_client(&self, client: &ClientRecord, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                sqlx::query(
                    "INSERT INTO app_client (id, pool_id, name, public, secret_hash, redirect_uris, \
                     config, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&client.id)
                .bind(client.pool_id.to_string())
                .bind(&client.name)
                .bind(client.public)
                .bind(&client.secret_hash)
                .bind(json_text(&client.redirect_uris)?)
                .bind(json_text(&client.config)?)
                .bind(client.created_at)
                .execute(&mut *tx)
                .await?;
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_clients(&self, pool: PoolId) -> Result<Vec<ClientRecord>, Error> {
                sqlx::query_as::<_, ClientRow>(
                    "SELECT id, pool_id, name, public, secret_hash, redirect_uris, config, created_at \
                     FROM app_client WHERE pool_id = $1 ORDER BY created_at, id",
                )
                .bind(pool.to_string())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(ClientRow::into_record)
                .collect()
            }

            async fn find_client(&self, pool: PoolId, id: &str) -> Result<Option<ClientRecord>, Error> {
                sqlx::query_as::<_, ClientRow>(
                    "SELECT id, pool_id, name, public, secret_hash, redirect_uris, config, created_at \
                     FROM app_client WHERE pool_id = $1 AND id = $2",
                )
                .bind(pool.to_string())
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(ClientRow::into_record)
                .transpose()
            }

            async fn delete_client(&self, pool: PoolId, id: &str, audit: &AuditEvent) -> Result<bool, Error> {
                let mut tx = self.begin().await?;
                let gone = sqlx::query("DELETE FROM app_client WHERE pool_id = $1 AND id = $2")
                    .bind(pool.to_string())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if gone == 0 {
                    return Ok(false);
                }
                // Its sessions end with it: their refresh tokens stop working at once.
                sqlx::query(REVOKE_CLIENT_SESSIONS)
                .bind(pool.to_string())
                .bind(id)
                .bind(audit.created_at)
                .execute(&mut *tx)
                .await?;
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}

pub(super) use client_store;
