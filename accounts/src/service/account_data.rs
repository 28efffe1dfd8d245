//! What the gateway holds about an account, as its owner and operators read it: sessions
//! with the device they came from, the audit log, the export of everything (secrets
//! excluded), and deleting the account at its owner's request.

use serde::Serialize;
use serde_json::{Value, json};

use super::{AccountView, Actor, UserPool};
use crate::mail::Mail;
use crate::store::{AuditEntry, AuditFilter, PoolRecord, RevokeScope, SessionRecord};
use crate::{AccountId, Error, SessionId};

/// The most audit events an export carries (newest first).
const EXPORT_AUDIT_MAX: usize = 10_000;

/// A session as its account (or an operator) sees it.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct SessionView {
    pub id: SessionId,
    /// The OAuth client it was opened for; none for the direct API.
    pub client_id: Option<String>,
    /// How the sign-in was made (`amr`: `pwd`, `siwe`, `email`, …).
    pub method: Vec<String>,
    /// "Firefox on Linux", from the User-Agent it was opened with.
    pub device: Option<String>,
    pub user_agent: Option<String>,
    /// The wallet that signed it, if one did.
    pub wallet: Option<String>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    /// The session of the token that asked (for the account's own list).
    pub current: bool,
}

impl SessionView {
    pub fn of(s: &SessionRecord, current: Option<SessionId>) -> Self {
        SessionView {
            id: s.id,
            client_id: s.client_id.clone(),
            method: s.methods(),
            device: s.user_agent.as_deref().map(device_of),
            user_agent: s.user_agent.clone(),
            wallet: s.wallet.map(|w| w.to_string()),
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            current: current == Some(s.id),
        }
    }
}

/// A short name for the device behind a User-Agent: the browser (or client) and the
/// operating system, from the tokens browsers have sent for a decade; "Unknown" parts when
/// neither is recognised.
pub fn device_of(ua: &str) -> String {
    let has = |t: &str| ua.contains(t);
    let browser = if has("Edg/") {
        "Edge"
    } else if has("OPR/") || has("Opera") {
        "Opera"
    } else if has("Firefox/") {
        "Firefox"
    } else if has("Chrome/") || has("Chromium/") || has("HeadlessChrome/") {
        "Chrome"
    } else if has("Safari/") {
        "Safari"
    } else if ua.starts_with("curl/") {
        "curl"
    } else if has("node") || has("undici") {
        "Node.js"
    } else if ua.starts_with("python") {
        "Python"
    } else {
        "Unknown browser"
    };
    let os = if has("iPhone") || has("iPad") {
        "iOS"
    } else if has("Android") {
        "Android"
    } else if has("Windows") {
        "Windows"
    } else if has("Mac OS X") || has("Macintosh") {
        "macOS"
    } else if has("CrOS") {
        "ChromeOS"
    } else if has("Linux") {
        "Linux"
    } else {
        "unknown system"
    };
    format!("{browser} on {os}")
}

/// An audit event as read.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct AuditView {
    pub id: i64,
    pub sub: Option<AccountId>,
    pub kind: String,
    pub detail: Value,
    pub created_at: i64,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        AuditView {
            id: e.id,
            sub: e.account_id,
            kind: e.kind,
            detail: e.detail,
            created_at: e.created_at,
        }
    }
}

/// `GET /v1/me/export`: everything held about the account, secrets excluded (no password
/// hash, no code, no refresh token, no sealed key).
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct AccountExport {
    pub account: AccountView,
    pub sessions: Vec<SessionView>,
    /// Its second factors (never a secret or a code).
    pub mfa: super::MfaView,
    /// Its passkeys (never a key).
    pub passkeys: Vec<super::PasskeyView>,
    /// Its federated identities (the IdP, the upstream subject and email).
    pub identities: Vec<super::IdentityView>,
    /// Newest first, at most 10,000 events.
    pub audit: Vec<AuditView>,
    pub exported_at: i64,
}

impl UserPool {
    /// The account's live sessions, the asking one marked.
    pub async fn sessions_of(
        &self,
        account: AccountId,
        current: Option<SessionId>,
        now: i64,
    ) -> Result<Vec<SessionView>, Error> {
        let sessions = self.store.list_sessions(account, now).await?;
        Ok(sessions
            .iter()
            .map(|s| SessionView::of(s, current))
            .collect())
    }

    /// Ends one of the account's sessions (and the client sessions authorized from it).
    /// [`Error::InvalidRefreshToken`] when the account has no such live session.
    pub async fn end_own_session(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        session: SessionId,
        now: i64,
    ) -> Result<(), Error> {
        // Only a live session of this account: nothing else is ended, or audited.
        let live = self.store.find_session(session).await?.is_some_and(|s| {
            s.account_id == account && s.revoked_at.is_none() && s.expires_at > now
        });
        if !live {
            return Err(Error::InvalidRefreshToken);
        }
        let audit = Self::audit(
            pool.id,
            Some(account),
            "session_ended",
            json!({ "session": session, "actor": Actor::Owner }),
            now,
        );
        let ended = self
            .store
            .revoke_sessions(account, RevokeScope::Tree(session), now, &audit)
            .await?;
        if ended == 0 {
            return Err(Error::InvalidRefreshToken);
        }
        Ok(())
    }

    /// A page of the pool's audit log, newest first, below `before`.
    pub async fn audit_page(
        &self,
        pool: &PoolRecord,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditView>, Error> {
        let page = self
            .store
            .list_audit(pool.id, filter, before, limit)
            .await?;
        Ok(page.into_iter().map(AuditView::from).collect())
    }

    pub async fn export_account(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        current: Option<SessionId>,
        now: i64,
    ) -> Result<AccountExport, Error> {
        let view = self.account(pool, account).await?;
        let sessions = self.sessions_of(account, current, now).await?;
        let filter = AuditFilter {
            account: Some(account),
            ..Default::default()
        };
        let mut audit = Vec::new();
        let mut before = None;
        while audit.len() < EXPORT_AUDIT_MAX {
            let page = self.audit_page(pool, &filter, before, 500).await?;
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            audit.extend(page);
        }
        audit.truncate(EXPORT_AUDIT_MAX);
        let mfa = self.mfa_view(pool, account).await?;
        let passkeys = self
            .passkeys(account)
            .await?
            .iter()
            .map(super::PasskeyView::from)
            .collect();
        let identities = self.identities(account).await?;
        Ok(AccountExport {
            account: view,
            sessions,
            mfa,
            passkeys,
            identities,
            audit,
            exported_at: now,
        })
    }

    /// Deletes the account at its owner's request (the caller checked a recent sign-in),
    /// mailing a notice to its verified address.
    pub async fn delete_own_account(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        now: i64,
    ) -> Result<(), Error> {
        let bundle = self
            .store
            .find_account(pool.id, account)
            .await?
            .ok_or(Error::AccountNotFound)?;
        let notice = match bundle.email.as_ref().filter(|e| e.verified_at.is_some()) {
            Some(e) => Some(self.outbox(pool, &e.email, Mail::AccountDeleted, now)?),
            None => None,
        };
        let audit = Self::audit(
            pool.id,
            Some(account),
            "account_deleted",
            json!({ "actor": Actor::Owner }),
            now,
        );
        self.store
            .delete_account(pool.id, account, notice.as_ref(), &audit)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_named_from_user_agents() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            ("curl/8.5.0", "curl on unknown system"),
            ("", "Unknown browser on unknown system"),
        ];
        for (ua, device) in cases {
            assert_eq!(device_of(ua), device, "{ua}");
        }
    }
}
