//! Groups: named sets of accounts in a pool, with a precedence (lower first) and a
//! description. Their names are read from the store whenever a token is issued or
//! refreshed (the `groups` claim), so a removal takes effect at the next refresh.

use serde::Deserialize;
use serde_json::json;

use super::{Actor, UserPool};
use crate::store::{GroupRecord, PoolRecord};
use crate::{AccountId, Error};

/// The longest group name and description, in characters.
const MAX_NAME_CHARS: usize = 128;
const MAX_DESCRIPTION_CHARS: usize = 2048;

/// `POST` (name required) or `PATCH` (name ignored) of a group.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct GroupChange {
    pub name: Option<String>,
    pub description: Option<String>,
    /// 0 to 2^31-1; lower comes first. Default 0.
    pub precedence: Option<i64>,
}

/// A group name: 1 to 128 characters, no whitespace, control characters or `/` (names go
/// into claims, storage-role conditions and paths).
fn check_name(name: &str) -> Result<(), Error> {
    let n = name.chars().count();
    if n == 0
        || n > MAX_NAME_CHARS
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(Error::InvalidGroup(format!(
            "the name must be 1 to {MAX_NAME_CHARS} characters without spaces, control characters or '/'"
        )));
    }
    Ok(())
}

fn check_fields(g: &GroupRecord) -> Result<(), Error> {
    if g.description.chars().count() > MAX_DESCRIPTION_CHARS
        || g.description.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(Error::InvalidGroup(format!(
            "the description must be at most {MAX_DESCRIPTION_CHARS} characters of text"
        )));
    }
    if !(0..=i64::from(i32::MAX)).contains(&g.precedence) {
        return Err(Error::InvalidGroup(
            "precedence must be 0 to 2147483647".into(),
        ));
    }
    Ok(())
}

impl UserPool {
    pub async fn create_group(
        &self,
        pool: &PoolRecord,
        req: GroupChange,
        actor: &Actor,
        now: i64,
    ) -> Result<GroupRecord, Error> {
        let name = req
            .name
            .ok_or_else(|| Error::InvalidGroup("the name is required".into()))?;
        check_name(&name)?;
        let group = GroupRecord {
            id: uuid::Uuid::new_v4(),
            pool_id: pool.id,
            name,
            description: req.description.unwrap_or_default(),
            precedence: req.precedence.unwrap_or(0),
            created_at: now,
            updated_at: now,
        };
        check_fields(&group)?;
        let audit = Self::audit(
            pool.id,
            None,
            "admin_group_created",
            json!({ "actor": actor, "group": group.name }),
            now,
        );
        self.store.insert_group(&group, &audit).await?;
        Ok(group)
    }

    pub async fn list_groups(
        &self,
        pool: &PoolRecord,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<GroupRecord>, Error> {
        self.store.list_groups(pool.id, after, limit).await
    }

    pub async fn find_group(&self, pool: &PoolRecord, name: &str) -> Result<GroupRecord, Error> {
        self.store
            .find_group(pool.id, name)
            .await?
            .ok_or(Error::GroupNotFound)
    }

    /// Changes the description or precedence (a group is renamed by making a new one).
    pub async fn update_group(
        &self,
        pool: &PoolRecord,
        name: &str,
        req: GroupChange,
        actor: &Actor,
        now: i64,
    ) -> Result<GroupRecord, Error> {
        let mut group = self.find_group(pool, name).await?;
        if req.name.as_deref().is_some_and(|n| n != name) {
            return Err(Error::InvalidGroup(
                "a group cannot be renamed: create the new one and move the members".into(),
            ));
        }
        if let Some(d) = req.description {
            group.description = d;
        }
        if let Some(p) = req.precedence {
            group.precedence = p;
        }
        group.updated_at = now;
        check_fields(&group)?;
        let audit = Self::audit(
            pool.id,
            None,
            "admin_group_updated",
            json!({ "actor": actor, "group": group.name }),
            now,
        );
        self.store.update_group(&group, &audit).await?;
        Ok(group)
    }

    pub async fn delete_group(
        &self,
        pool: &PoolRecord,
        name: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<(), Error> {
        let audit = Self::audit(
            pool.id,
            None,
            "admin_group_deleted",
            json!({ "actor": actor, "group": name }),
            now,
        );
        self.store.delete_group(pool.id, name, &audit).await
    }

    pub async fn add_group_member(
        &self,
        pool: &PoolRecord,
        group: &str,
        account: AccountId,
        actor: &Actor,
        now: i64,
    ) -> Result<(), Error> {
        let audit = Self::audit(
            pool.id,
            Some(account),
            "admin_group_member_added",
            json!({ "actor": actor, "group": group }),
            now,
        );
        self.store
            .add_member(pool.id, group, account, now, &audit)
            .await
    }

    /// [`Error::GroupNotFound`] for an unknown group, [`Error::AccountNotFound`] when the
    /// account is not a member.
    pub async fn remove_group_member(
        &self,
        pool: &PoolRecord,
        group: &str,
        account: AccountId,
        actor: &Actor,
        now: i64,
    ) -> Result<(), Error> {
        self.find_group(pool, group).await?;
        let audit = Self::audit(
            pool.id,
            Some(account),
            "admin_group_member_removed",
            json!({ "actor": actor, "group": group }),
            now,
        );
        if self
            .store
            .remove_member(pool.id, group, account, &audit)
            .await?
        {
            Ok(())
        } else {
            Err(Error::AccountNotFound)
        }
    }

    pub async fn list_group_members(
        &self,
        pool: &PoolRecord,
        group: &str,
        after: Option<AccountId>,
        limit: i64,
    ) -> Result<Vec<AccountId>, Error> {
        self.find_group(pool, group).await?;
        self.store.list_members(pool.id, group, after, limit).await
    }
}
