//! Wallet credentials (DESIGN rules 1-3): sign-in with a wallet (the first one creates a
//! wallet-only account), linking with a fresh signature, unlinking unless it is the last
//! credential that can sign in. Signatures are verified by the gateway (crate `wallet`)
//! before anything here is called.

use serde_json::{Map, json};
use wallet::{Caip10, WalletKind};

use super::{AccountView, Issued, NewSessionRequest, SignIn, UserPool};
use crate::mail::Mail;
use crate::store::{AccountRecord, NewWallet, PoolRecord};
use crate::{AccountId, AccountStatus, Error};

/// A wallet whose SIWE signature was just verified.
#[derive(Clone, Debug)]
pub struct ProvenWallet {
    pub kind: WalletKind,
    /// The chain of the signed message and the signer's address.
    pub caip10: Caip10,
}

impl ProvenWallet {
    pub(super) fn address_key(&self) -> String {
        self.caip10.address.key()
    }

    /// An EOA is the same wallet on every chain; a contract wallet is per chain.
    pub(super) fn key_chain(&self) -> i64 {
        key_chain(self.kind, self.caip10.chain_id)
    }

    pub(super) fn record(&self, pool: &PoolRecord, account: AccountId, now: i64) -> NewWallet {
        NewWallet {
            pool_id: pool.id,
            account_id: account,
            kind: self.kind,
            chain_id: self.key_chain(),
            caip10: self.caip10,
            now,
        }
    }
}

/// The chain a wallet is keyed by: 0 for an EOA (every chain), its own for a contract.
fn key_chain(kind: WalletKind, chain_id: u64) -> i64 {
    match kind {
        WalletKind::Eoa => 0,
        WalletKind::Contract => i64::try_from(chain_id).unwrap_or(i64::MAX),
    }
}

impl UserPool {
    /// `POST /v1/sessions/siwe`: a session for the wallet's account; the first sign-in of a
    /// wallet creates a wallet-only account (its `sub` is a new UUID, never the address).
    /// The account a proven wallet signs in to, if it has one yet.
    pub async fn wallet_account(
        &self,
        pool: &PoolRecord,
        wallet: &ProvenWallet,
    ) -> Result<Option<AccountId>, Error> {
        Ok(self
            .store
            .find_account_by_wallet(pool.id, wallet.key_chain(), &wallet.address_key())
            .await?
            .map(|b| b.account.id))
    }

    pub async fn sign_in_wallet(
        &self,
        pool: &PoolRecord,
        wallet: &ProvenWallet,
        req: &NewSessionRequest,
        now: i64,
    ) -> Result<SignIn, Error> {
        for _ in 0..2 {
            if let Some(bundle) = self
                .store
                .find_account_by_wallet(pool.id, wallet.key_chain(), &wallet.address_key())
                .await?
            {
                if bundle.account.status != AccountStatus::Active {
                    // A disabled account answers like a wrong password (as on
                    // `/v1/sessions/password`), audited as a failure.
                    let audit = Self::audit(
                        pool.id,
                        Some(bundle.account.id),
                        "sign_in_failed",
                        json!({ "method": "siwe", "reason": "disabled" }),
                        now,
                    );
                    self.store.record(&audit, None).await?;
                    return Err(Error::InvalidCredentials);
                }
                if let Some(mut ch) = self.mfa_due(pool, &bundle, "siwe", &["siwe"], req).await? {
                    ch.wallet = Some(wallet.caip10);
                    self.record_challenge(&ch, now).await?;
                    return Ok(SignIn::Challenge(Box::new(ch)));
                }
                let (token, mut new) =
                    self.new_session(pool, bundle.account.id, &["siwe"], req, now);
                new.session.wallet = Some(wallet.caip10);
                let audit = Self::audit(
                    pool.id,
                    Some(bundle.account.id),
                    "sign_in",
                    json!({ "method": "siwe", "wallet": wallet.caip10, "session": new.session.id }),
                    now,
                );
                self.store.insert_session(&new, None, &audit).await?;
                return Ok(SignIn::Done(Box::new(Issued {
                    account: bundle.into(),
                    session: new.session,
                    refresh_token: token,
                })));
            }
            let account = AccountRecord {
                id: AccountId::new(),
                pool_id: pool.id,
                status: AccountStatus::Active,
                attributes: Map::new(),
                created_at: now,
                updated_at: now,
            };
            let (token, mut new) = self.new_session(pool, account.id, &["siwe"], req, now);
            new.session.wallet = Some(wallet.caip10);
            let audit = [
                Self::audit(
                    pool.id,
                    Some(account.id),
                    "signup",
                    json!({ "method": "siwe", "wallet": wallet.caip10 }),
                    now,
                ),
                Self::audit(
                    pool.id,
                    Some(account.id),
                    "sign_in",
                    json!({ "method": "siwe", "wallet": wallet.caip10, "session": new.session.id }),
                    now,
                ),
            ];
            match self
                .store
                .insert_wallet_account(
                    &account,
                    &wallet.record(pool, account.id, now),
                    &new,
                    &audit,
                )
                .await
            {
                Ok(()) => {
                    let view = self.account(pool, account.id).await?;
                    return Ok(SignIn::Done(Box::new(Issued {
                        account: view,
                        session: new.session,
                        refresh_token: token,
                    })));
                }
                // A concurrent first sign-in of the same wallet won: sign in to its account.
                Err(Error::WalletAlreadyLinked) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::WalletAlreadyLinked)
    }

    /// `POST /v1/me/wallets`: links a wallet the signed-in account just proved it holds.
    pub async fn link_wallet(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        wallet: &ProvenWallet,
        now: i64,
    ) -> Result<AccountView, Error> {
        let current = self.account(pool, account).await?;
        let notice = self.account_notice(
            pool,
            &current,
            Mail::WalletLinked {
                wallet: wallet.caip10.to_string(),
            },
            now,
        )?;
        let audit = Self::audit(
            pool.id,
            Some(account),
            "wallet_linked",
            json!({ "wallet": wallet.caip10 }),
            now,
        );
        self.store
            .insert_wallet(&wallet.record(pool, account, now), notice.as_ref(), &audit)
            .await?;
        self.account(pool, account).await
    }

    /// `DELETE /v1/me/wallets/{caip10}`: unlinks, unless it is the last credential that can
    /// sign in (DESIGN rule 3).
    pub async fn unlink_wallet(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        caip10: &str,
        now: i64,
    ) -> Result<AccountView, Error> {
        let current = self.account(pool, account).await?;
        // The address in any case, as it always was: the path names a wallet already linked.
        let named = Caip10::parse_any_case(caip10).map_err(|_| Error::WalletNotFound)?;
        let linked = current
            .credentials
            .wallets
            .iter()
            .find(|w| w.address == named.address && w.chain_id == key_chain(w.kind, named.chain_id))
            .ok_or(Error::WalletNotFound)?;
        let shown = linked.caip10;
        let (stored_chain, key) = (linked.chain_id, linked.address.key());
        let notice = self.account_notice(
            pool,
            &current,
            Mail::WalletUnlinked {
                wallet: shown.to_string(),
            },
            now,
        )?;
        let audit = Self::audit(
            pool.id,
            Some(account),
            "wallet_unlinked",
            json!({ "wallet": shown }),
            now,
        );
        self.store
            .delete_wallet(account, stored_chain, &key, notice.as_ref(), &audit)
            .await?;
        self.account(pool, account).await
    }

    /// A notice to the account's verified email, if it has one.
    pub(super) fn account_notice(
        &self,
        pool: &PoolRecord,
        account: &AccountView,
        mail: Mail,
        now: i64,
    ) -> Result<Option<crate::store::OutboxMail>, Error> {
        match (&account.email, account.email_verified) {
            (Some(email), true) => Ok(Some(self.outbox(pool, email, mail, now)?)),
            _ => Ok(None),
        }
    }
}
