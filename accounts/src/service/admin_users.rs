//! Accounts as operators manage them: search, create (an invitation by email, or a
//! wallet-only account), change attributes, status and email verification, delete, sign out
//! everywhere, mail a recovery code, clear second factors. Every change is one transaction
//! with its audit row naming the operator.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use wallet::{Address, Caip10, WalletKind};

use super::profile::validate_attributes;
use super::{AccountView, Actor, ProvenWallet, UserPool};
use crate::mail::Mail;
use crate::store::{
    AccountCursor, AccountFilter, AccountPatch, AccountRecord, CodePurpose, NewAdminAccount,
    PoolRecord, RevokeScope, SessionRecord,
};
use crate::{AccountId, AccountStatus, Email, Error};

/// How long an invitation's code sets the first password (Cognito's temporary passwords
/// last 7 days too); a code's tries and the address's daily budget still hold.
pub const INVITATION_TTL: i64 = 7 * 86_400;

/// `POST /admin/v1/pools/{pool}/users`: an email (the person gets an invitation with a code
/// that sets the first password), a wallet, or both.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct NewUser {
    pub email: Option<String>,
    /// Mark the email verified at once (it is proved anyway when the invitation's code is
    /// used).
    pub email_verified: bool,
    pub attributes: Map<String, Value>,
    /// A CAIP-10 id (`eip155:1:0x…`) or a bare address (chain 1).
    pub wallet: Option<String>,
    /// `eoa` (default: valid on every chain) or `contract` (on the CAIP-10 chain only).
    #[cfg_attr(feature = "schema", schema(schema_with = crate::schema::optional_wallet_kind))]
    pub wallet_kind: Option<WalletKind>,
    /// Mail the invitation (default true when there is an email).
    pub send_invitation: Option<bool>,
}

/// `PATCH /admin/v1/pools/{pool}/users/{sub}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct UserPatch {
    /// A merge patch of the attributes (`null` removes one).
    pub attributes: Option<Map<String, Value>>,
    /// `active` or `disabled` (which ends every session at once).
    pub status: Option<AccountStatus>,
    pub email_verified: Option<bool>,
}

/// A wallet as an operator names it: any CAIP-10 form (address in any case) or a bare
/// address (taken as chain 1).
pub fn parse_wallet(s: &str) -> Result<Caip10, Error> {
    let s = s.trim();
    let bad = || Error::InvalidAttributes("wallet: not a CAIP-10 id or an address".into());
    if s.starts_with("eip155:") {
        return Caip10::parse_any_case(s).map_err(|_| bad());
    }
    let address: Address = s.to_ascii_lowercase().parse().map_err(|_| bad())?;
    Ok(Caip10::new(1, address))
}

impl UserPool {
    /// The audit row of an operator's action on one account, naming the operator.
    fn by_operator(
        pool: &PoolRecord,
        account: AccountId,
        kind: &'static str,
        actor: &Actor,
        now: i64,
    ) -> crate::store::AuditEvent {
        Self::audit(pool.id, Some(account), kind, json!({ "actor": actor }), now)
    }

    /// The account with its credentials, or [`Error::AccountNotFound`].
    async fn bundle(
        &self,
        pool: &PoolRecord,
        id: AccountId,
    ) -> Result<crate::store::AccountBundle, Error> {
        self.store
            .find_account(pool.id, id)
            .await?
            .ok_or(Error::AccountNotFound)
    }

    /// Accounts of the pool matching `filter`, a page after `after`.
    pub async fn search_users(
        &self,
        pool: &PoolRecord,
        filter: &AccountFilter,
        after: Option<AccountCursor>,
        limit: i64,
    ) -> Result<Vec<AccountView>, Error> {
        let found = self
            .store
            .search_accounts(pool.id, filter, after, limit)
            .await?;
        Ok(found.into_iter().map(AccountView::from).collect())
    }

    /// The account with its live sessions.
    pub async fn user_with_sessions(
        &self,
        pool: &PoolRecord,
        id: AccountId,
        now: i64,
    ) -> Result<(AccountView, Vec<SessionRecord>), Error> {
        let account = self.account(pool, id).await?;
        let sessions = self.store.list_sessions(id, now).await?;
        Ok((account, sessions))
    }

    pub async fn create_user(
        &self,
        pool: &PoolRecord,
        req: NewUser,
        actor: &Actor,
        now: i64,
    ) -> Result<AccountView, Error> {
        if req.email.is_none() && req.wallet.is_none() {
            return Err(Error::InvalidAttributes(
                "give an email, a wallet or both".into(),
            ));
        }
        let attributes = validate_attributes(Map::new(), req.attributes)?;
        let email = req.email.as_deref().map(Email::parse).transpose()?;
        let account = AccountRecord {
            id: AccountId::new(),
            pool_id: pool.id,
            status: AccountStatus::Active,
            attributes,
            created_at: now,
            updated_at: now,
        };
        // Keyed as a signed-in wallet is (an EOA on every chain, a contract on its own).
        let wallet = match req.wallet.as_deref() {
            Some(w) => Some(
                ProvenWallet {
                    kind: req.wallet_kind.unwrap_or(WalletKind::Eoa),
                    caip10: parse_wallet(w)?,
                }
                .record(pool, account.id, now),
            ),
            None => None,
        };
        let invitation = match &email {
            Some(e) if req.send_invitation.unwrap_or(true) => {
                let (code, mut row) =
                    self.new_code(pool, account.id, CodePurpose::Recovery, None, now);
                row.expires_at = now + INVITATION_TTL;
                let mail = self.outbox(
                    pool,
                    e.as_str(),
                    Mail::Invitation {
                        code: code.expose().to_string(),
                    },
                    now,
                )?;
                Some((row, mail))
            }
            _ => None,
        };
        let audit = Self::audit(
            pool.id,
            Some(account.id),
            "admin_user_created",
            json!({
                "actor": actor,
                "email": email.is_some(),
                "wallet": wallet.as_ref().map(|w| w.caip10.to_string()),
                "invited": invitation.is_some(),
            }),
            now,
        );
        let id = account.id;
        let new = NewAdminAccount {
            account,
            email: email.map(|e| (e, req.email_verified)),
            wallets: wallet.into_iter().collect(),
            invitation,
            password_hash: None,
            groups: Vec::new(),
        };
        self.store.insert_admin_account(&new, &audit).await?;
        self.account(pool, id).await
    }

    pub async fn patch_user(
        &self,
        pool: &PoolRecord,
        id: AccountId,
        patch: UserPatch,
        actor: &Actor,
        now: i64,
    ) -> Result<AccountView, Error> {
        let bundle = self.bundle(pool, id).await?;
        if patch.status == Some(AccountStatus::Pending) {
            return Err(Error::InvalidAttributes(
                "status: an operator sets `active` or `disabled`".into(),
            ));
        }
        if patch.email_verified.is_some() && bundle.email.is_none() {
            return Err(Error::InvalidAttributes(
                "email_verified: the account has no email".into(),
            ));
        }
        let attributes = patch
            .attributes
            .map(|p| validate_attributes(bundle.account.attributes.clone(), p))
            .transpose()?;
        let audit = Self::audit(
            pool.id,
            Some(id),
            "admin_user_updated",
            json!({
                "actor": actor,
                "attributes": attributes.is_some(),
                "status": patch.status,
                "email_verified": patch.email_verified,
            }),
            now,
        );
        let change = AccountPatch {
            attributes,
            status: patch.status,
            email_verified: patch.email_verified,
        };
        self.store
            .patch_account(pool.id, id, &change, now, &audit)
            .await?;
        self.account(pool, id).await
    }

    /// Deletes the account (cascade); its wallets become free to link elsewhere.
    pub async fn delete_user(
        &self,
        pool: &PoolRecord,
        id: AccountId,
        actor: &Actor,
        now: i64,
    ) -> Result<(), Error> {
        let audit = Self::by_operator(pool, id, "admin_user_deleted", actor, now);
        self.store.delete_account(pool.id, id, None, &audit).await
    }

    /// Ends every session of the account; how many.
    pub async fn sign_out_user(
        &self,
        pool: &PoolRecord,
        id: AccountId,
        actor: &Actor,
        now: i64,
    ) -> Result<u64, Error> {
        self.account(pool, id).await?;
        let audit = Self::by_operator(pool, id, "admin_sign_out", actor, now);
        self.store
            .revoke_sessions(id, RevokeScope::All, now, &audit)
            .await
    }

    /// Mails a recovery code to the account's stored address.
    pub async fn reset_user_password(
        &self,
        pool: &PoolRecord,
        id: AccountId,
        actor: &Actor,
        now: i64,
    ) -> Result<(), Error> {
        let bundle = self.bundle(pool, id).await?;
        let Some(email) = bundle.email else {
            return Err(Error::InvalidAttributes(
                "the account has no email to mail a code to".into(),
            ));
        };
        let (code, row) = self.new_code(pool, id, CodePurpose::Recovery, None, now);
        let mail = self.outbox(
            pool,
            &email.email,
            Mail::RecoveryCode {
                code: code.expose().to_string(),
            },
            now,
        )?;
        let audit = Self::by_operator(pool, id, "admin_password_reset", actor, now);
        self.store.replace_code(&row, &mail, &audit).await
    }

    /// Removes every second factor of the account; how many there were.
    pub async fn clear_user_mfa(
        &self,
        pool: &PoolRecord,
        id: AccountId,
        actor: &Actor,
        now: i64,
    ) -> Result<u64, Error> {
        let account = self.account(pool, id).await?;
        let audit = Self::by_operator(pool, id, "admin_mfa_cleared", actor, now);
        // The owner hears of it (at a verified address), as of any change to their factors.
        let to = account.email.filter(|_| account.email_verified);
        let notice = self.notice(pool, to.as_deref(), crate::mail::MfaChange::Cleared, now)?;
        self.store.clear_mfa(id, notice.as_ref(), &audit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallets_are_named_in_any_form() {
        let a = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed";
        let checksummed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        for form in [
            a.to_string(),
            checksummed.to_string(),
            a.to_uppercase().replacen("0X", "0x", 1),
            format!("eip155:1:{a}"),
            format!(" eip155:1:{checksummed} "),
        ] {
            let w = parse_wallet(&form).unwrap();
            assert_eq!(w.address.key(), a, "{form}");
            assert_eq!(w.chain_id, 1);
        }
        assert_eq!(
            parse_wallet(&format!("eip155:8453:{a}")).unwrap().chain_id,
            8453
        );
        for bad in [
            "",
            "0x12",
            "eip155:01:0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
            "abc",
        ] {
            assert!(parse_wallet(bad).is_err(), "{bad}");
        }
    }
}
