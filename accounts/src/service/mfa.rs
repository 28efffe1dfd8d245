//! Second factors (DESIGN, Multi-factor authentication): whether a sign-in whose first
//! factor passed must answer a second one, and the answers (an authenticator app's code, a
//! backup code, an emailed code, a passkey's verdict). The account's own enrolment and
//! removal of factors is in `factors`.
//!
//! The challenge itself (its handle, its five wrong answers, its five minutes) lives in the
//! gateway's ephemeral store; this side decides, checks codes and opens the session.

use serde::{Deserialize, Serialize};
use serde_json::json;
use wallet::Caip10;

use super::{Issued, NewSessionRequest, UserPool};
use crate::mail::{Mail, MfaChange};
use crate::policy::{Factor, MfaMode};
use crate::secret::{Secret, random_bytes};
use crate::store::{AccountBundle, FactorChange, PoolRecord};
use crate::totp;
use crate::{AccountId, Error, PoolId};

/// Backup codes in a set.
pub const BACKUP_CODES: usize = 10;

/// How a sign-in ended: a session, or a second factor to answer first.
#[derive(Debug)]
pub enum SignIn {
    Done(Box<Issued>),
    Challenge(Box<MfaChallenge>),
}

/// A sign-in whose first factor passed and whose second is due: what the gateway keeps
/// under the challenge's handle until it is answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MfaChallenge {
    pub pool: PoolId,
    pub account: AccountId,
    /// How the first factor signed in: `password`, `siwe` or `recovery`.
    pub method: String,
    /// The first factor's `amr`.
    pub amr: Vec<String>,
    /// The wallet that signed, for a wallet sign-in.
    pub wallet: Option<Caip10>,
    pub client_id: Option<String>,
    pub user_agent: Option<String>,
    /// The factors that answer it; under `setup`, the factors it may enrol instead.
    pub factors: Vec<Factor>,
    /// No factor yet under a `required` policy: enrolling one answers the challenge.
    pub setup: bool,
    /// The verified address email codes go to (none: email codes cannot answer).
    pub email: Option<String>,
    /// When the challenge dies (Unix seconds on the gateway's clock; set when it opens).
    #[serde(default)]
    pub expires_at: i64,
}

/// An authenticator app being enrolled: its secret, for the person's app.
#[derive(Debug)]
pub struct TotpEnrolment {
    /// Base32 (RFC 4648), as apps take it typed in.
    pub secret: Secret,
    /// `otpauth://totp/…`, as apps take it from a QR code.
    pub otpauth_uri: Secret,
}

/// The account's second factors, as it sees them.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct MfaView {
    /// The pool's policy: `off`, `optional` or `required`.
    pub mode: MfaMode,
    /// The factors the pool allows.
    pub allowed: Vec<Factor>,
    pub totp: Option<FactorView>,
    pub email: Option<FactorView>,
    /// Backup codes not used yet.
    pub backup_codes_left: i64,
}

#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct FactorView {
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl UserPool {
    /// Whether a sign-in by `method` that just passed its first factor must answer a second
    /// one, and with what. Nothing is read when the pool's policy is off or does not
    /// challenge `method` (the common case costs nothing).
    pub(super) async fn mfa_due(
        &self,
        pool: &PoolRecord,
        bundle: &AccountBundle,
        method: &str,
        amr: &[&str],
        req: &NewSessionRequest,
    ) -> Result<Option<MfaChallenge>, Error> {
        let policy = &pool.config.mfa;
        let applies = match method {
            "siwe" => policy.challenge_wallet,
            "federated" => policy.challenge_federated,
            "recovery" => !policy.recovery_skips_mfa,
            _ => true,
        };
        if policy.mode == MfaMode::Off || !applies {
            return Ok(None);
        }
        let email = verified_email(Some(bundle));
        let (factors, setup) = self.answering_factors(pool, bundle, &email).await?;
        if setup && policy.mode != MfaMode::Required {
            return Ok(None);
        }
        Ok(Some(MfaChallenge {
            pool: pool.id,
            account: bundle.account.id,
            method: method.to_string(),
            amr: amr.iter().map(|s| s.to_string()).collect(),
            wallet: None,
            client_id: req.client_id.clone(),
            user_agent: req.user_agent.clone(),
            factors,
            setup,
            email,
            expires_at: 0,
        }))
    }

    /// Step-up (`POST /v1/sessions/step-up`, `acr_values=mfa`): a challenge for a live
    /// session that has no second factor yet, whatever the pool asks at sign-in; an
    /// account without a factor enrols one of the pool's. Refused when the pool's policy
    /// is `off` (no factor can answer it).
    pub async fn step_up(
        &self,
        pool: &PoolRecord,
        session: &crate::store::SessionRecord,
        now: i64,
    ) -> Result<MfaChallenge, Error> {
        let policy = &pool.config.mfa;
        if policy.mode == MfaMode::Off || session.pool_id != pool.id {
            return Err(Error::FactorNotAllowed);
        }
        let bundle = self
            .store
            .find_account(pool.id, session.account_id)
            .await?
            .filter(|b| b.account.status == crate::AccountStatus::Active)
            .ok_or(Error::InvalidCredentials)?;
        let email = verified_email(Some(&bundle));
        let (factors, setup) = self.answering_factors(pool, &bundle, &email).await?;
        let ch = MfaChallenge {
            pool: pool.id,
            account: bundle.account.id,
            method: "step_up".into(),
            amr: session.amr.clone(),
            wallet: session.wallet,
            client_id: session.client_id.clone(),
            user_agent: session.user_agent.clone(),
            factors,
            setup,
            email,
            expires_at: 0,
        };
        self.record_challenge(&ch, now).await?;
        Ok(ch)
    }

    /// The factors that can answer a challenge of the account (the ones it enrolled that
    /// the pool allows; email codes only to a verified `email`), or, when it has none, the
    /// ones it may enrol instead (`true`: a setup).
    async fn answering_factors(
        &self,
        pool: &PoolRecord,
        bundle: &AccountBundle,
        email: &Option<String>,
    ) -> Result<(Vec<Factor>, bool), Error> {
        let policy = &pool.config.mfa;
        let factors: Vec<Factor> = self
            .store
            .mfa_state(bundle.account.id)
            .await?
            .factors()
            .into_iter()
            .filter(|f| policy.allows(*f) && (*f != Factor::Email || email.is_some()))
            .collect();
        if factors.is_empty() || factors == [Factor::BackupCode] {
            return Ok((setup_factors(policy, email.is_some()), true));
        }
        Ok((factors, false))
    }

    /// Writes the audit row of a challenge opened (the first factor passed).
    pub(super) async fn record_challenge(&self, ch: &MfaChallenge, now: i64) -> Result<(), Error> {
        let audit = Self::audit(
            ch.pool,
            Some(ch.account),
            "mfa_challenged",
            json!({ "method": ch.method, "setup": ch.setup, "factors": ch.factors }),
            now,
        );
        self.store.record(&audit, None).await
    }

    /// Queues an emailed code for `ch` and answers its keyed hash, which the gateway keeps
    /// with the challenge ([`UserPool::mfa_code_hash`] checks an answer against it).
    pub async fn send_mfa_code(
        &self,
        pool: &PoolRecord,
        ch: &MfaChallenge,
        now: i64,
    ) -> Result<String, Error> {
        if !ch.factors.contains(&Factor::Email) {
            return Err(Error::FactorNotAllowed);
        }
        let to = ch.email.as_deref().ok_or(Error::EmailUnverified)?;
        let code = crate::secret::random_code();
        let mail = self.outbox(
            pool,
            to,
            Mail::MfaCode {
                code: code.expose().into(),
            },
            now,
        )?;
        let audit = Self::audit(
            pool.id,
            Some(ch.account),
            "mfa_code_sent",
            json!({ "method": ch.method }),
            now,
        );
        self.store.record(&audit, Some(&mail)).await?;
        Ok(self.mfa_code_hash(ch.account, code.expose()))
    }

    /// The keyed hash of an emailed second-factor code of `account`.
    pub fn mfa_code_hash(&self, account: AccountId, code: &str) -> String {
        self.master
            .hash("mfa-code", &format!("{account}:{}", code.trim()))
    }

    /// Checks `factor`'s `code` against `ch`. An emailed code (against the hash kept with
    /// the challenge) and a passkey's assertion are checked by the caller, which passes its
    /// verdict (`checked`). Under `setup`, the answer enrols the factor (an app's first code
    /// confirms it and answers its backup codes, shown once).
    /// A wrong answer is audited and is [`Error::MfaCodeInvalid`]. The caller then takes
    /// the challenge (once) and opens the session with [`UserPool::finish_mfa`].
    pub async fn verify_mfa(
        &self,
        pool: &PoolRecord,
        ch: &MfaChallenge,
        factor: Factor,
        code: &str,
        checked: bool,
        now: i64,
    ) -> Result<Option<Vec<Secret>>, Error> {
        if ch.pool != pool.id {
            return Err(Error::MfaSessionInvalid);
        }
        // Under `setup` a passkey is registered through the account API, not here.
        if !ch.factors.contains(&factor)
            || (ch.setup && matches!(factor, Factor::BackupCode | Factor::Passkey))
        {
            return Err(Error::FactorNotAllowed);
        }
        let account = ch.account;
        let outcome = match factor {
            Factor::Totp => self.check_totp(pool, account, code, ch.setup, now).await,
            Factor::BackupCode => {
                let hash = self.backup_code_hash(account, code);
                match self.store.use_backup_code(account, &hash, now).await? {
                    true => Ok(None),
                    false => Err(Error::MfaCodeInvalid),
                }
            }
            Factor::Email if !checked => Err(Error::MfaCodeInvalid),
            Factor::Email if ch.setup => self
                .enable_email_factor_with(pool, account, ch.email.as_deref(), now)
                .await
                .map(|()| None),
            Factor::Email => self
                .store
                .use_email_factor(account, now)
                .await
                .map(|()| None),
            // The gateway verified the assertion (and stored its counter).
            Factor::Passkey if checked => Ok(None),
            Factor::Passkey => Err(Error::MfaCodeInvalid),
        };
        if let Err(Error::MfaCodeInvalid) = outcome {
            let audit = Self::audit(
                pool.id,
                Some(account),
                "sign_in_failed",
                json!({ "method": ch.method, "factor": factor, "reason": "mfa" }),
                now,
            );
            self.store.record(&audit, None).await?;
        }
        outcome
    }

    /// Opens the session of a challenge answered with `factor`: both factors and `mfa` in
    /// its `amr`. [`Error::InvalidCredentials`] when the account was disabled meanwhile.
    pub async fn finish_mfa(
        &self,
        pool: &PoolRecord,
        ch: &MfaChallenge,
        factor: Factor,
        now: i64,
    ) -> Result<Issued, Error> {
        let account = ch.account;
        let mut amr: Vec<&str> = ch.amr.iter().map(String::as_str).collect();
        for value in [factor.amr(), "mfa"] {
            if !amr.contains(&value) {
                amr.push(value);
            }
        }
        let req = NewSessionRequest {
            client_id: ch.client_id.clone(),
            user_agent: ch.user_agent.clone(),
        };
        let (token, mut new) = self.new_session(pool, account, &amr, &req, now);
        new.session.wallet = ch.wallet;
        let audit = Self::audit(
            pool.id,
            Some(account),
            "sign_in",
            json!({ "method": ch.method, "factor": factor, "session": new.session.id }),
            now,
        );
        self.store.insert_session(&new, None, &audit).await?;
        let bundle = self
            .store
            .find_account(pool.id, account)
            .await?
            .ok_or(Error::InvalidCredentials)?;
        Ok(Issued {
            account: bundle.into(),
            session: new.session,
            refresh_token: token,
        })
    }

    /// An app's code: a confirmed app's step used once, or (`setup`) the pending app's
    /// first code, which confirms it and answers the new backup codes.
    async fn check_totp(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        code: &str,
        setup: bool,
        now: i64,
    ) -> Result<Option<Vec<Secret>>, Error> {
        let state = self.store.mfa_state(account).await?;
        let Some(app) = state.totp else {
            return Err(if setup {
                Error::MfaNotEnrolled
            } else {
                Error::MfaCodeInvalid
            });
        };
        if setup != app.confirmed_at.is_none() {
            return Err(Error::MfaCodeInvalid);
        }
        let secret = self
            .master
            .open(&totp_purpose(account), &app.secret_sealed)?;
        let step = totp::matching_step(&secret, code, now, app.last_used_step)
            .ok_or(Error::MfaCodeInvalid)?;
        if !setup {
            return match self.store.use_totp_step(account, step, now).await? {
                true => Ok(None),
                false => Err(Error::MfaCodeInvalid),
            };
        }
        let codes = self.confirm_totp_step(pool, account, step, now).await?;
        Ok(Some(codes))
    }

    pub(super) async fn confirm_totp_step(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        step: i64,
        now: i64,
    ) -> Result<Vec<Secret>, Error> {
        let (codes, hashes) = self.new_backup_codes(account);
        let audit = ("mfa_enrolled", json!({ "factor": Factor::Totp }));
        let change = self
            .factor_change(pool, account, audit, MfaChange::TotpAdded, now)
            .await?;
        self.store.confirm_totp(&change, step, &hashes).await?;
        Ok(codes)
    }

    pub(super) fn notice(
        &self,
        pool: &PoolRecord,
        to: Option<&str>,
        change: MfaChange,
        now: i64,
    ) -> Result<Option<crate::store::OutboxMail>, Error> {
        to.map(|to| self.outbox(pool, to, Mail::MfaChanged { change }, now))
            .transpose()
    }

    /// A change to `account`'s factors: its audit row (`kind`, `detail`) and the notice of
    /// `change` for the account's verified address (none without one).
    pub(super) async fn factor_change(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        (kind, detail): (&'static str, serde_json::Value),
        change: MfaChange,
        now: i64,
    ) -> Result<FactorChange, Error> {
        let bundle = self.store.find_account(pool.id, account).await?;
        let to = verified_email(bundle.as_ref());
        Ok(FactorChange {
            account,
            now,
            audit: Self::audit(pool.id, Some(account), kind, detail, now),
            notice: self.notice(pool, to.as_deref(), change, now)?,
        })
    }

    fn backup_code_hash(&self, account: AccountId, code: &str) -> String {
        let normalized: String = code
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .flat_map(char::to_lowercase)
            .collect();
        self.master
            .hash("backup-code", &format!("{account}:{normalized}"))
    }

    /// Ten codes of ten characters (about 50 bits each, `xxxxx-xxxxx`), and their hashes.
    pub(super) fn new_backup_codes(&self, account: AccountId) -> (Vec<Secret>, Vec<String>) {
        // Base32 without the letters and digits people confuse is not needed: the codes
        // are compared case-insensitively and without dashes or spaces.
        (0..BACKUP_CODES)
            .map(|_| {
                let raw = totp::base32(&random_bytes::<7>()).to_lowercase();
                let code = format!("{}-{}", &raw[..5], &raw[5..10]);
                let hash = self.backup_code_hash(account, &code);
                (Secret::new(code), hash)
            })
            .unzip()
    }
}

/// What an account without a factor may enrol while answering a challenge: an app, or
/// email codes to a verified address (a passkey is registered through the account API).
fn setup_factors(policy: &crate::policy::MfaPolicy, has_email: bool) -> Vec<Factor> {
    policy
        .factors
        .iter()
        .copied()
        .filter(|f| match f {
            Factor::Totp => true,
            Factor::Email => has_email,
            Factor::BackupCode | Factor::Passkey => false,
        })
        .collect()
}

/// The sealing purpose of an account's app secret: a sealed secret moved to another
/// account's row does not open.
pub(super) fn totp_purpose(account: AccountId) -> String {
    format!("totp:{account}")
}

pub(super) fn verified_email(bundle: Option<&AccountBundle>) -> Option<String> {
    bundle
        .and_then(|b| b.email.as_ref())
        .filter(|e| e.verified_at.is_some())
        .map(|e| e.email.clone())
}
