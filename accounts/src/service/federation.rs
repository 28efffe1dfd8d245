//! Federated identities (DESIGN, Federation and rule 2): a pool's IdPs as the operator
//! configures them, and the accounts upstream identities sign in to. The upstream protocol
//! (the code exchange, the ID token's signature and claims) is the gateway's; what arrives
//! here is an identity the gateway verified.
//!
//! Linking never happens silently: a first sign-in whose trusted, verified email belongs to
//! an account answers [`Federated::LinkFirst`], and the identity links only once the person
//! has signed in to that account ([`UserPool::link_identity`]).

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{Actor, Issued, NewSessionRequest, SignIn, UserPool, validate_attributes};
use crate::idp::{self, IdpSecrets};
use crate::mail::Mail;
use crate::store::{
    AccountBundle, AccountRecord, IdentityRecord, IdpRecord, NewFederatedAccount, PoolRecord,
};
use crate::{AccountId, AccountStatus, Email, Error};

/// Who the IdP says signed in, verified by the gateway.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Upstream {
    pub subject: String,
    pub email: Option<String>,
    /// Whether the IdP asserted the email verified.
    pub email_verified: bool,
    /// The upstream claims the attribute mapping reads.
    pub claims: Map<String, Value>,
}

/// What a federated sign-in came to.
#[derive(Debug)]
pub enum Federated {
    /// A session, or a second factor to answer first.
    SignedIn(SignIn),
    /// The IdP's trusted email belongs to an account that does not have this identity: the
    /// person signs in to it first, then the identity links (DESIGN: proof from both sides).
    LinkFirst { account: AccountId, email: String },
}

/// A federated identity as its account sees it.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct IdentityView {
    /// The IdP's name in the pool.
    pub idp: String,
    /// The IdP's subject for the account.
    pub subject: String,
    pub email: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl From<&IdentityRecord> for IdentityView {
    fn from(i: &IdentityRecord) -> Self {
        IdentityView {
            idp: i.provider.clone(),
            subject: i.subject.clone(),
            email: i.email.clone(),
            created_at: i.created_at,
            last_used_at: i.last_used_at,
        }
    }
}

/// An IdP as operators see it (admin API, CLI): its configuration, which secrets are set,
/// and the callback URL to register at the IdP. Never a secret.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct IdpView {
    pub name: String,
    #[serde(flatten)]
    pub config: idp::IdpConfig,
    pub client_secret_set: bool,
    pub private_key_set: bool,
    /// Register this at the IdP as the redirect (callback) URI.
    pub redirect_uri: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The `amr` of a federated sign-in: `fed`, and the IdP as `idp:{name}` (the token splits it
/// out into its `idp` claim).
fn amr_of(idp: &IdpRecord) -> [String; 2] {
    ["fed".into(), format!("idp:{}", idp.name)]
}

/// What the mapping copies from the upstream claims onto `current`: strings only, clipped
/// to what an attribute may hold; `None` when nothing changes.
fn mapped(
    idp: &IdpRecord,
    up: &Upstream,
    current: &Map<String, Value>,
) -> Option<Map<String, Value>> {
    let mut patch = Map::new();
    for (attribute, claim) in &idp.config.attribute_mapping {
        let value = match up.claims.get(claim) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        let clean: String = value
            .chars()
            .filter(|c| !c.is_control())
            .take(2048)
            .collect();
        if current.get(attribute).and_then(Value::as_str) != Some(clean.as_str()) {
            patch.insert(attribute.clone(), Value::String(clean));
        }
    }
    if patch.is_empty() {
        return None;
    }
    validate_attributes(current.clone(), patch).ok()
}

impl UserPool {
    /// The pool's IdPs, by name.
    pub async fn identity_providers(&self, pool: &PoolRecord) -> Result<Vec<IdpRecord>, Error> {
        self.store.list_idps(pool.id).await
    }

    pub async fn identity_provider(
        &self,
        pool: &PoolRecord,
        name: &str,
    ) -> Result<IdpRecord, Error> {
        self.store
            .find_idp(pool.id, name)
            .await?
            .ok_or(Error::IdpNotFound)
    }

    fn seal_secrets(
        &self,
        pool: &PoolRecord,
        name: &str,
        s: &IdpSecrets,
    ) -> Result<Vec<u8>, Error> {
        let plain = serde_json::to_vec(s).map_err(|_| Error::Crypto)?;
        self.master.seal(&format!("idp:{}:{name}", pool.id), &plain)
    }

    /// The IdP's sealed secrets, opened.
    pub fn idp_secrets(&self, idp: &IdpRecord) -> Result<IdpSecrets, Error> {
        let Some(sealed) = &idp.secrets_sealed else {
            return Ok(IdpSecrets::default());
        };
        let plain = self
            .master
            .open(&format!("idp:{}:{}", idp.pool_id, idp.name), sealed)?;
        serde_json::from_slice(&plain).map_err(|_| Error::Crypto)
    }

    /// The operator's view of `idp`, whose callback is `redirect_uri`.
    pub fn idp_view(&self, idp: IdpRecord, redirect_uri: String) -> Result<IdpView, Error> {
        let secrets = self.idp_secrets(&idp)?;
        Ok(IdpView {
            redirect_uri,
            client_secret_set: secrets.client_secret.is_some(),
            private_key_set: secrets.private_key.is_some(),
            name: idp.name,
            config: idp.config,
            created_at: idp.created_at,
            updated_at: idp.updated_at,
        })
    }

    /// `POST /admin/v1/pools/{pool}/identity-providers`: `input` holds `name`, the fields of
    /// [`idp::IdpConfig`] (or a preset's) and the secrets.
    pub async fn create_idp(
        &self,
        pool: &PoolRecord,
        mut input: Map<String, Value>,
        actor: &Actor,
        now: i64,
    ) -> Result<IdpRecord, Error> {
        let name = match input.remove("name") {
            Some(Value::String(n)) if idp::valid_name(&n) => n,
            _ => {
                return Err(Error::InvalidIdpConfig(format!(
                    "`name` is 1 to {} of a-z, 0-9 and `-`, starting with a letter",
                    idp::IDP_NAME_MAX
                )));
            }
        };
        let secrets = idp::split_secrets(&mut input)?.unwrap_or_default();
        let config = idp::parse_config(input)?;
        config.check_secrets(&secrets)?;
        let record = IdpRecord {
            pool_id: pool.id,
            secrets_sealed: Some(self.seal_secrets(pool, &name, &secrets)?),
            name,
            config,
            created_at: now,
            updated_at: now,
        };
        let audit = Self::audit(
            pool.id,
            None,
            "idp_created",
            json!({ "actor": actor, "idp": record.name, "kind": record.config.kind }),
            now,
        );
        self.store.insert_idp(&record, &audit).await?;
        Ok(record)
    }

    /// `PATCH …/identity-providers/{idp}`: a JSON merge patch (RFC 7396) of the stored
    /// configuration; secrets given replace the sealed ones.
    pub async fn update_idp(
        &self,
        pool: &PoolRecord,
        name: &str,
        mut patch: Map<String, Value>,
        actor: &Actor,
        now: i64,
    ) -> Result<IdpRecord, Error> {
        let current = self.identity_provider(pool, name).await?;
        let new_secrets = idp::split_secrets(&mut patch)?;
        if patch.contains_key("name") {
            return Err(Error::InvalidIdpConfig(
                "an IdP's name does not change".into(),
            ));
        }
        let mut fields = serde_json::to_value(&current.config).map_err(|_| Error::Crypto)?;
        super::merge_patch(&mut fields, &Value::Object(patch));
        let Value::Object(fields) = fields else {
            return Err(Error::InvalidIdpConfig(
                "the configuration is an object".into(),
            ));
        };
        // The preset fills again only what the stored configuration lacks.
        let config = idp::parse_config(fields)?;
        let mut secrets = self.idp_secrets(&current)?;
        if let Some(s) = &new_secrets {
            if s.client_secret.is_some() {
                secrets.client_secret.clone_from(&s.client_secret);
            }
            if s.private_key.is_some() {
                secrets.private_key.clone_from(&s.private_key);
            }
        }
        config.check_secrets(&secrets)?;
        let record = IdpRecord {
            secrets_sealed: match new_secrets {
                Some(_) => Some(self.seal_secrets(pool, name, &secrets)?),
                None => None,
            },
            config,
            updated_at: now,
            ..current
        };
        let audit = Self::audit(
            pool.id,
            None,
            "idp_updated",
            json!({ "actor": actor, "idp": name, "secrets": record.secrets_sealed.is_some() }),
            now,
        );
        self.store.update_idp(&record, &audit).await?;
        self.identity_provider(pool, name).await
    }

    /// Deletes an IdP no identity is linked through ([`Error::IdpInUse`] otherwise).
    pub async fn delete_idp(
        &self,
        pool: &PoolRecord,
        name: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<(), Error> {
        let audit = Self::audit(
            pool.id,
            None,
            "idp_deleted",
            json!({ "actor": actor, "idp": name }),
            now,
        );
        self.store.delete_idp(pool.id, name, &audit).await
    }

    /// A sign-in through `idp` as `up`: the linked account's session (or its second factor),
    /// a new account on the first sign-in, or [`Federated::LinkFirst`].
    /// Whether an upstream identity is linked to an account of the pool yet.
    pub async fn identity_linked(
        &self,
        pool: &PoolRecord,
        idp: &IdpRecord,
        up: &Upstream,
    ) -> Result<bool, Error> {
        Ok(self
            .store
            .find_account_by_identity(pool.id, &idp.name, &up.subject)
            .await?
            .is_some())
    }

    pub async fn sign_in_federated(
        &self,
        pool: &PoolRecord,
        idp: &IdpRecord,
        up: &Upstream,
        req: &NewSessionRequest,
        now: i64,
    ) -> Result<Federated, Error> {
        let amr = amr_of(idp);
        let amr: [&str; 2] = [&amr[0], &amr[1]];
        let trusted_email = self.trusted_email(idp, up);
        for _ in 0..2 {
            if let Some((bundle, mut identity)) = self
                .store
                .find_account_by_identity(pool.id, &idp.name, &up.subject)
                .await?
            {
                return self
                    .sign_in_linked(pool, idp, up, bundle, &mut identity, &amr, req, now)
                    .await
                    .map(Federated::SignedIn);
            }
            let mut email = trusted_email.clone();
            if let Some(e) = &trusted_email
                && let Some(owner) = self
                    .store
                    .find_account_by_email(pool.id, &e.normalized())
                    .await?
            {
                // A sign-up nobody confirmed holds the address without owning it: no one
                // could sign in to it to link, so the new account goes without the email.
                if owner.account.status != AccountStatus::Pending {
                    return Ok(Federated::LinkFirst {
                        account: owner.account.id,
                        email: e.as_str().to_string(),
                    });
                }
                email = None;
            }
            let attributes = mapped(idp, up, &Map::new()).unwrap_or_default();
            let account = AccountRecord {
                id: AccountId::new(),
                pool_id: pool.id,
                status: AccountStatus::Active,
                attributes,
                created_at: now,
                updated_at: now,
            };
            let identity = self.identity_record(pool, account.id, idp, up, now);
            let (token, new) = self.new_session(pool, account.id, &amr, req, now);
            let audit = [
                Self::audit(
                    pool.id,
                    Some(account.id),
                    "signup",
                    json!({ "method": "federated", "idp": idp.name, "email": email.is_some() }),
                    now,
                ),
                Self::audit(
                    pool.id,
                    Some(account.id),
                    "sign_in",
                    json!({ "method": "federated", "idp": idp.name, "session": new.session.id }),
                    now,
                ),
            ];
            let verified = email.as_ref().map(|e| e.as_str().to_string());
            let outcome = self
                .store
                .insert_federated_account(&NewFederatedAccount {
                    account: &account,
                    verified_email: verified.as_deref(),
                    identity: &identity,
                    session: &new,
                    audit: &audit,
                })
                .await;
            match outcome {
                Ok(()) => {
                    let view = self.account(pool, account.id).await?;
                    return Ok(Federated::SignedIn(SignIn::Done(Box::new(Issued {
                        account: view,
                        session: new.session,
                        refresh_token: token,
                    }))));
                }
                // A concurrent first sign-in of this identity, or of an account with this
                // email, won: look again (the identity signs in, or the email asks to link).
                Err(Error::IdentityTaken | Error::EmailTaken) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::IdentityTaken)
    }

    /// The upstream email, when this IdP's is trusted and it asserted it verified.
    fn trusted_email(&self, idp: &IdpRecord, up: &Upstream) -> Option<Email> {
        if !idp.config.trust_email || !up.email_verified {
            return None;
        }
        up.email.as_deref().and_then(|e| Email::parse(e).ok())
    }

    fn identity_record(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        idp: &IdpRecord,
        up: &Upstream,
        now: i64,
    ) -> IdentityRecord {
        IdentityRecord {
            id: uuid::Uuid::new_v4(),
            pool_id: pool.id,
            account_id: account,
            provider: idp.name.clone(),
            subject: up.subject.clone(),
            email: up.email.clone(),
            created_at: now,
            last_used_at: Some(now),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn sign_in_linked(
        &self,
        pool: &PoolRecord,
        idp: &IdpRecord,
        up: &Upstream,
        bundle: AccountBundle,
        identity: &mut IdentityRecord,
        amr: &[&str],
        req: &NewSessionRequest,
        now: i64,
    ) -> Result<SignIn, Error> {
        if bundle.account.status != AccountStatus::Active {
            let audit = Self::audit(
                pool.id,
                Some(bundle.account.id),
                "sign_in_failed",
                json!({ "method": "federated", "idp": idp.name, "reason": "disabled" }),
                now,
            );
            self.store.record(&audit, None).await?;
            return Err(Error::AccountDisabled);
        }
        identity.email.clone_from(&up.email);
        let attributes = mapped(idp, up, &bundle.account.attributes);
        self.store
            .identity_used(identity, attributes.as_ref(), now)
            .await?;
        if let Some(ch) = self.mfa_due(pool, &bundle, "federated", amr, req).await? {
            self.record_challenge(&ch, now).await?;
            return Ok(SignIn::Challenge(Box::new(ch)));
        }
        let (token, new) = self.new_session(pool, bundle.account.id, amr, req, now);
        let audit = Self::audit(
            pool.id,
            Some(bundle.account.id),
            "sign_in",
            json!({ "method": "federated", "idp": idp.name, "session": new.session.id }),
            now,
        );
        self.store.insert_session(&new, None, &audit).await?;
        let account = self.account(pool, bundle.account.id).await?;
        Ok(SignIn::Done(Box::new(Issued {
            account,
            session: new.session,
            refresh_token: token,
        })))
    }

    /// Links `up` (verified by the gateway just now) to `account`, which the person is
    /// signed in to. [`Error::IdentityTaken`] when another account has it. Audited, and the
    /// account's verified email is told.
    pub async fn link_identity(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        idp: &IdpRecord,
        up: &Upstream,
        now: i64,
    ) -> Result<(), Error> {
        let current = self.account(pool, account).await?;
        let notice = self.account_notice(
            pool,
            &current,
            Mail::IdentityLinked {
                idp: idp.config.display_name.clone(),
            },
            now,
        )?;
        let audit = Self::audit(
            pool.id,
            Some(account),
            "identity_linked",
            json!({ "idp": idp.name, "subject": up.subject }),
            now,
        );
        let identity = self.identity_record(pool, account, idp, up, now);
        match self
            .store
            .insert_identity(&identity, notice.as_ref(), &audit)
            .await
        {
            // Linked already, to this very account: nothing to do.
            Err(Error::IdentityTaken) => {
                let mine = self.store.list_identities(account).await?;
                if mine
                    .iter()
                    .any(|i| i.provider == idp.name && i.subject == up.subject)
                {
                    return Ok(());
                }
                Err(Error::IdentityTaken)
            }
            other => other,
        }
    }

    /// `DELETE /v1/me/identities/{idp}`: unless it is the last credential that can sign in.
    pub async fn unlink_identity(
        &self,
        pool: &PoolRecord,
        account: AccountId,
        provider: &str,
        now: i64,
    ) -> Result<(), Error> {
        let current = self.account(pool, account).await?;
        let shown = match self.store.find_idp(pool.id, provider).await? {
            Some(idp) => idp.config.display_name,
            None => provider.to_string(),
        };
        let notice =
            self.account_notice(pool, &current, Mail::IdentityUnlinked { idp: shown }, now)?;
        let audit = Self::audit(
            pool.id,
            Some(account),
            "identity_unlinked",
            json!({ "idp": provider }),
            now,
        );
        self.store
            .delete_identity(account, provider, notice.as_ref(), &audit)
            .await
    }

    /// `GET /v1/me/identities`.
    pub async fn identities(&self, account: AccountId) -> Result<Vec<IdentityView>, Error> {
        Ok(self
            .store
            .list_identities(account)
            .await?
            .iter()
            .map(IdentityView::from)
            .collect())
    }
}
