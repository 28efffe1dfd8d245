//! Passkeys (WebAuthn) as the account holds them: registered, listed, renamed, removed, and
//! the session a passkey sign-in opens. The WebAuthn ceremonies themselves (challenges,
//! signatures, counters) are the gateway's, with a maintained verifier; this side stores
//! what it verified, opaque.

use serde::Serialize;
use serde_json::json;

use super::{Issued, NewSessionRequest, UserPool};
use crate::mail::MfaChange;
use crate::policy::MfaMode;
use crate::store::{PasskeyRecord, PoolRecord};
use crate::{AccountId, AccountStatus, Error};

/// The longest passkey name, in characters.
pub const PASSKEY_NAME_MAX: usize = 64;

/// A passkey as its account sees it.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct PasskeyView {
    #[cfg_attr(feature = "schema", schema(value_type = String, format = "uuid"))]
    pub id: uuid::Uuid,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl From<&PasskeyRecord> for PasskeyView {
    fn from(p: &PasskeyRecord) -> Self {
        PasskeyView {
            id: p.id,
            name: p.name.clone(),
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        }
    }
}

/// A passkey whose registration the gateway verified.
#[derive(Debug)]
pub struct NewPasskey<'a> {
    pub credential_id: &'a str,
    pub credential: String,
    pub name: Option<&'a str>,
}

fn clean_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > PASSKEY_NAME_MAX
        || name.chars().any(char::is_control)
    {
        return Err(Error::InvalidAttributes(format!(
            "a passkey's name is 1 to {PASSKEY_NAME_MAX} characters"
        )));
    }
    Ok(name.to_string())
}

impl UserPool {
    /// The account's passkeys (also what a ceremony needs: their stored credentials).
    pub async fn passkeys(&self, account: AccountId) -> Result<Vec<PasskeyRecord>, Error> {
        self.store.list_passkeys(account).await
    }

    /// The passkey of `pool` a credential id names.
    pub async fn find_passkey(
        &self,
        pool: &PoolRecord,
        credential_id: &str,
    ) -> Result<Option<PasskeyRecord>, Error> {
        self.store.find_passkey(pool.id, credential_id).await
    }

    /// Stores a verified registration; audited, and the owner is mailed.
    pub async fn add_passkey(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        new: NewPasskey<'_>,
        now: i64,
    ) -> Result<PasskeyView, Error> {
        let name = clean_name(new.name.unwrap_or("Passkey"))?;
        let record = PasskeyRecord {
            id: uuid::Uuid::new_v4(),
            pool_id: pool.id,
            account_id: account,
            credential_id: new.credential_id.to_string(),
            credential: new.credential,
            name,
            created_at: now,
            last_used_at: None,
        };
        let audit = (
            "passkey_added",
            json!({ "passkey": record.id, "name": record.name }),
        );
        let change = self
            .factor_change(pool, account, audit, MfaChange::PasskeyAdded, now)
            .await?;
        self.store.insert_passkey(&record, &change).await?;
        Ok(PasskeyView::from(&record))
    }

    /// Renames one of the account's passkeys.
    pub async fn rename_passkey(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        id: uuid::Uuid,
        name: &str,
        now: i64,
    ) -> Result<PasskeyView, Error> {
        let name = clean_name(name)?;
        let audit = Self::audit(
            pool.id,
            Some(account),
            "passkey_renamed",
            json!({ "passkey": id, "name": name }),
            now,
        );
        self.store
            .rename_passkey(account, id, &name, &audit)
            .await?;
        self.passkeys(account)
            .await?
            .iter()
            .find(|p| p.id == id)
            .map(PasskeyView::from)
            .ok_or(Error::PasskeyNotFound)
    }

    /// Removes one of the account's passkeys (the caller checked a recent sign-in); not
    /// the last credential that can sign in, nor the last factor under `required`.
    pub async fn remove_passkey(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        id: uuid::Uuid,
        now: i64,
    ) -> Result<(), Error> {
        let audit = ("passkey_removed", json!({ "passkey": id }));
        let change = self
            .factor_change(pool, account, audit, MfaChange::PasskeyRemoved, now)
            .await?;
        let keep_one = pool.config.mfa.mode == MfaMode::Required;
        self.store.remove_passkey(&change, id, keep_one).await
    }

    /// Records a verified use (the credential's new counter).
    pub async fn passkey_used(
        &self,
        passkey: &PasskeyRecord,
        credential: &str,
        now: i64,
    ) -> Result<(), Error> {
        self.store.passkey_used(passkey.id, credential, now).await
    }

    /// The session of a verified passkey sign-in: `amr` is the key's kind, `user` (the
    /// authenticator verified the person) and `mfa` (RFC 8176: a key held and a person
    /// verified are two factors). A disabled account answers like a wrong passkey.
    pub async fn sign_in_passkey(
        &self,
        pool: &PoolRecord,
        passkey: &PasskeyRecord,
        key_amr: &str,
        req: &NewSessionRequest,
        now: i64,
    ) -> Result<Issued, Error> {
        let bundle = self
            .store
            .find_account(pool.id, passkey.account_id)
            .await?
            .filter(|b| b.account.status == AccountStatus::Active)
            .ok_or(Error::PasskeyInvalid)?;
        let (token, new) =
            self.new_session(pool, bundle.account.id, &[key_amr, "user", "mfa"], req, now);
        let audit = Self::audit(
            pool.id,
            Some(bundle.account.id),
            "sign_in",
            json!({ "method": "passkey", "passkey": passkey.id, "session": new.session.id }),
            now,
        );
        self.store
            .insert_session(&new, None, &audit)
            .await
            .map_err(|e| match e {
                Error::InvalidCredentials => Error::PasskeyInvalid,
                e => e,
            })?;
        Ok(Issued {
            account: bundle.into(),
            session: new.session,
            refresh_token: token,
        })
    }
}
