//! The pool's `user_migration` hook as the old system a password sign-in (or, in the mail
//! worker, a recovery) asks: the accounts crate's [`UserMigration`], through the hook.

use accounts::hooks::Trigger;
use accounts::store::PoolRecord;
use accounts::{Email, Error, MigratedUser, UserMigration};
use async_trait::async_trait;
use serde_json::json;

use super::{Context, Hooks, triggers};
use crate::clock::Clock;

/// The old system, reached through the pool's hook.
pub struct Migration<'a> {
    pub hooks: &'a Hooks,
    pub clock: &'a Clock,
    pub pool: &'a PoolRecord,
    pub ctx: Context,
}

impl<'a> Migration<'a> {
    /// The old system, when the pool has a hook that applies to `ctx`.
    pub async fn with(
        hooks: &'a Hooks,
        clock: &'a Clock,
        pool: &'a PoolRecord,
        ctx: Context,
    ) -> Option<Self> {
        hooks
            .has(pool.id, Trigger::UserMigration, &ctx, clock.now())
            .await
            .then_some(Migration {
                hooks,
                clock,
                pool,
                ctx,
            })
    }
}

#[async_trait]
impl UserMigration for Migration<'_> {
    async fn lookup(
        &self,
        email: &Email,
        password: Option<&str>,
    ) -> Result<Option<MigratedUser>, Error> {
        let mut ctx = self.ctx.clone();
        ctx.email = Some(email.as_str().to_string());
        // The password goes to the old system to be checked there, over TLS (or loopback):
        // the one call that carries one, as Cognito's migration trigger does. A recovery
        // has none: the mailbox is proved instead.
        let data = json!({ "password": password });
        let now = self.clock.now();
        let answer = self
            .hooks
            .ask(
                self.pool,
                Trigger::UserMigration,
                &ctx,
                data,
                now,
                triggers::migration,
            )
            .await?;
        Ok(answer.flatten())
    }
}
