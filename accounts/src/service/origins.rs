//! Sign-ins from somewhere new: a pool that asks for it (`notify_new_sign_ins`) mails the
//! account a notice when it signs in from a network (its client address's /24 or /48) or a
//! browser (the hosted pages' device cookie) it never signed in from, and audits it. The
//! first sign-in an account makes is never "new": there is nothing to compare with.

use serde_json::json;

use super::UserPool;
use super::account_data::device_of;
use crate::mail::Mail;
use crate::store::{PoolRecord, SignInOrigin};
use crate::{AccountId, Error};

/// Where a sign-in came from, as the gateway saw it.
#[derive(Clone, Debug)]
pub struct Origin<'a> {
    /// `203.0.113.0/24` or `2001:db8:1::/48`.
    pub network: &'a str,
    /// The hosted pages' device cookie; none from the API.
    pub device: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

impl UserPool {
    /// Notes where `account` just signed in from (see the module). Nothing is read or
    /// written unless the pool asks for notices. Answers `(new_network, new_device)`.
    pub async fn note_sign_in_origin(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        origin: &Origin<'_>,
        now: i64,
    ) -> Result<(bool, bool), Error> {
        if !pool.config.notify_new_sign_ins {
            return Ok((false, false));
        }
        let network = self.mac("origin-network", origin.network);
        let device = origin.device.map(|d| self.mac("origin-device", d));
        let bundle = self.store.find_account(pool.id, account).await?;
        let to = super::mfa::verified_email(bundle.as_ref());
        let described = device_of(origin.user_agent.unwrap_or_default());
        let notice = |new_network: bool, new_device: bool| {
            let audit = Self::audit(
                pool.id,
                Some(account),
                "sign_in_new_origin",
                json!({
                    "network": origin.network,
                    "new_network": new_network,
                    "new_device": new_device,
                    "device": described,
                }),
                now,
            );
            let mail = Mail::NewSignIn {
                network: origin.network.to_string(),
                new_network,
                new_device,
                device: described.clone(),
            };
            let mail = to
                .as_deref()
                .map(|to| self.outbox(pool, to, mail, now))
                .transpose()?;
            Ok((audit, mail))
        };
        let seen = SignInOrigin {
            account,
            network: &network,
            device: device.as_deref(),
            now,
        };
        self.store.remember_origin(&seen, &notice).await
    }
}
