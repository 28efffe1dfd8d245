//! App clients: created (secret shown once), listed, found, deleted (their sessions end);
//! every change audited in its own transaction.

use serde_json::json;

use super::{Actor, UserPool};
use crate::Error;
use crate::clients::{ClientRecord, NewClient};
use crate::secret::Secret;
use crate::store::PoolRecord;

impl UserPool {
    pub async fn create_client(
        &self,
        pool: &PoolRecord,
        req: NewClient,
        actor: &Actor,
        now: i64,
    ) -> Result<(ClientRecord, Option<Secret>), Error> {
        let (client, secret) = req.into_record(pool.id, &self.master, now)?;
        let audit = Self::audit(
            pool.id,
            None,
            "client_created",
            json!({ "actor": actor, "client_id": client.id, "name": client.name, "public": client.public }),
            now,
        );
        self.store.insert_client(&client, &audit).await?;
        Ok((client, secret))
    }

    pub async fn list_clients(&self, pool: &PoolRecord) -> Result<Vec<ClientRecord>, Error> {
        self.store.list_clients(pool.id).await
    }

    pub async fn find_client(&self, pool: &PoolRecord, id: &str) -> Result<ClientRecord, Error> {
        self.store
            .find_client(pool.id, id)
            .await?
            .ok_or(Error::ClientNotFound)
    }

    /// The client whose credentials these are: a confidential client and its secret.
    pub async fn authenticate_client(
        &self,
        pool: &PoolRecord,
        id: &str,
        secret: &str,
    ) -> Result<ClientRecord, Error> {
        match self.store.find_client(pool.id, id).await? {
            Some(c) if c.secret_matches(&self.master, secret) => Ok(c),
            _ => Err(Error::ClientNotFound),
        }
    }

    pub async fn delete_client(
        &self,
        pool: &PoolRecord,
        id: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<(), Error> {
        let audit = Self::audit(
            pool.id,
            None,
            "client_deleted",
            json!({ "actor": actor, "client_id": id }),
            now,
        );
        if self.store.delete_client(pool.id, id, &audit).await? {
            Ok(())
        } else {
            Err(Error::ClientNotFound)
        }
    }
}
