//! OAuth client sessions: an authorization code redeemed by an app client opens a session of
//! its own (a refresh-token family bound to that client and to the granted scope), a child of
//! the browser session the person signed in with, so logging out ends both.

use serde_json::json;

use super::{Issued, NewSessionRequest, UserPool};
use crate::store::{PoolRecord, SessionRecord};
use crate::{AccountStatus, Error, SessionId};

/// What a client is being given: which client, what scope, for how long.
#[derive(Clone, Debug)]
pub struct ClientGrant {
    pub client_id: String,
    /// Space-separated, already checked against the client's scopes.
    pub scope: String,
    /// The new session's id, chosen before it exists (a replayed code revokes it by id).
    pub session: SessionId,
    /// Seconds the refresh-token family lives; none: the pool's.
    pub refresh_ttl: Option<i64>,
}

impl UserPool {
    /// Opens `grant`'s session for the account of the live browser session `parent`, with
    /// its authentication (`amr`, `auth_time`, wallet) carried over. One transaction with
    /// its audit row.
    pub async fn open_client_session(
        &self,
        pool: &PoolRecord,
        parent: &SessionRecord,
        grant: &ClientGrant,
        now: i64,
    ) -> Result<Issued, Error> {
        let live = parent.revoked_at.is_none() && parent.expires_at > now;
        let bundle = self
            .store
            .find_account(pool.id, parent.account_id)
            .await?
            .filter(|b| live && b.account.status == AccountStatus::Active)
            .ok_or(Error::InvalidRefreshToken)?;
        let req = NewSessionRequest {
            client_id: Some(grant.client_id.clone()),
            user_agent: parent.user_agent.clone(),
        };
        let amr: Vec<&str> = parent.amr.iter().map(String::as_str).collect();
        let (token, mut new) = self.new_session(pool, parent.account_id, &amr, &req, now);
        let s = &mut new.session;
        s.id = grant.session;
        s.wallet = parent.wallet;
        s.auth_time = parent.auth_time;
        s.scope = Some(grant.scope.clone());
        s.parent_id = Some(parent.id);
        if let Some(ttl) = grant.refresh_ttl {
            s.expires_at = now + ttl;
        }
        // Never longer than the browser session it came from: logout ends both anyway.
        s.expires_at = s.expires_at.min(parent.expires_at);
        let audit = Self::audit(
            pool.id,
            Some(parent.account_id),
            "authorized",
            json!({ "client": grant.client_id, "scope": grant.scope, "session": s.id }),
            now,
        );
        self.store.insert_session(&new, None, &audit).await?;
        Ok(Issued {
            account: bundle.into(),
            session: new.session,
            refresh_token: token,
        })
    }
}
