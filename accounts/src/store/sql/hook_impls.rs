//! Hooks: the SQL stores' `HookStore`, expanded by `sql_store!` (in `../sql.rs`) once per
//! backend. One hook per trigger point holds by the unique key (pool, trigger): two
//! operators racing to add one cannot both succeed.

macro_rules! hook_store {
    ($store:ident) => {
        static HOOK_COLS: &str = "pool_id, name, config, secrets_sealed, created_at, updated_at";

        type HookRow = (String, String, String, Vec<u8>, i64, i64);

        fn hook_row(row: HookRow) -> Result<HookRecord, Error> {
            let (pool_id, name, config, secrets_sealed, created_at, updated_at) = row;
            Ok(HookRecord {
                pool_id: id(&pool_id, PoolId::parse, "hook")?,
                name,
                config: serde_json::from_str(&config).map_err(|_| corrupt("hook"))?,
                secrets_sealed,
                created_at,
                updated_at,
            })
        }

        fn hook_taken(e: sqlx::Error) -> Error {
            if violates(&e, &HOOK_KEY) || violates(&e, &HOOK_TRIGGER_KEY) {
                Error::HookExists
            } else {
                e.into()
            }
        }

        #[async_trait]
        impl HookStore for $store {
            async fn insert_hook(&self, hook: &HookRecord, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                sqlx::query(&format!(
                    "INSERT INTO hook ({HOOK_COLS}, hook_trigger) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ))
                .bind(hook.pool_id.to_string())
                .bind(&hook.name)
                .bind(json_text(&hook.config)?)
                .bind(&hook.secrets_sealed)
                .bind(hook.created_at)
                .bind(hook.updated_at)
                .bind(hook.config.trigger.as_str())
                .execute(&mut *tx)
                .await
                .map_err(hook_taken)?;
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_hook(&self, hook: &HookRecord, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                let n = sqlx::query(
                    "UPDATE hook SET config = $3, hook_trigger = $4, secrets_sealed = $5, updated_at = $6 \
                     WHERE pool_id = $1 AND name = $2",
                )
                .bind(hook.pool_id.to_string())
                .bind(&hook.name)
                .bind(json_text(&hook.config)?)
                .bind(hook.config.trigger.as_str())
                .bind(&hook.secrets_sealed)
                .bind(hook.updated_at)
                .execute(&mut *tx)
                .await
                .map_err(hook_taken)?
                .rows_affected();
                if n == 0 {
                    return Err(Error::HookNotFound);
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_hook(&self, pool: PoolId, name: &str, audit: &AuditEvent) -> Result<(), Error> {
                let mut tx = self.begin().await?;
                let n = sqlx::query("DELETE FROM hook WHERE pool_id = $1 AND name = $2")
                    .bind(pool.to_string())
                    .bind(name)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err(Error::HookNotFound);
                }
                Self::audit(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_hooks(&self, pool: PoolId) -> Result<Vec<HookRecord>, Error> {
                sqlx::query_as::<_, HookRow>(&format!("SELECT {HOOK_COLS} FROM hook WHERE pool_id = $1 ORDER BY name"))
                    .bind(pool.to_string())
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(hook_row)
                    .collect()
            }
        }
    };
}

pub(super) use hook_store;
