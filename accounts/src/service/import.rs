//! Moving users in by the thousand (DESIGN: bulk import) and out again: one NDJSON line per
//! account, in the same form both ways. Each line is checked and written on its own, in one
//! transaction with its audit row: a bad line is reported with its reason and the others go
//! in; an email or wallet another account has refuses the line, never merges. A password
//! hash from the old system (argon2, scrypt, PBKDF2-SHA256 or bcrypt) is stored as it came
//! and replaced by this pool's argon2id at the account's first sign-in.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use wallet::WalletKind;

use super::wallets::ProvenWallet;
use super::{Actor, UserPool, parse_wallet};
use crate::store::{AccountBundle, AccountRecord, NewAdminAccount, PoolRecord};
use crate::{AccountId, AccountStatus, Email, Error, legacy_hash};

/// A wallet of a line: a CAIP-10 id (an EOA), or the id with its kind.
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum LineWallet {
    Eoa(String),
    Typed { caip10: String, kind: WalletKind },
}

/// One account, as `gatehouse user export` writes it and the import reads it.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserLine {
    /// The account's id: kept when it is free, so an export imported elsewhere keeps its
    /// `sub`s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AccountStatus>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wallets: Vec<LineWallet>,
    /// PHC (argon2id, argon2i, scrypt, pbkdf2-sha256) or bcrypt (`$2a$`, `$2b$`, `$2y$`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
}

impl std::fmt::Debug for LineRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.reason)
    }
}

/// Why a line was not imported: a stable code and words.
pub struct LineRefusal {
    pub code: &'static str,
    pub reason: String,
}

fn refuse(code: &'static str, reason: impl Into<String>) -> LineRefusal {
    LineRefusal {
        code,
        reason: reason.into(),
    }
}

/// What became of a line.
pub enum Imported {
    Account(AccountId),
    Refused(LineRefusal),
}

impl UserLine {
    /// The line as an export writes it: hashes only when asked.
    pub fn of(bundle: AccountBundle, with_hash: bool) -> Self {
        UserLine {
            sub: Some(bundle.account.id.to_string()),
            email_verified: bundle
                .email
                .as_ref()
                .is_some_and(|e| e.verified_at.is_some()),
            email: bundle.email.map(|e| e.email),
            status: Some(bundle.account.status).filter(|s| *s != AccountStatus::Active),
            attributes: bundle.account.attributes,
            groups: bundle.groups,
            wallets: bundle
                .wallets
                .into_iter()
                .map(|w| match w.kind {
                    WalletKind::Eoa => LineWallet::Eoa(w.caip10.to_string()),
                    kind => LineWallet::Typed {
                        caip10: w.caip10.to_string(),
                        kind,
                    },
                })
                .collect(),
            password_hash: bundle.password.filter(|_| with_hash).map(|p| p.hash),
        }
    }
}

impl UserPool {
    /// The names of the pool's groups (an import's lines may join only these).
    pub async fn group_names(&self, pool: &PoolRecord) -> Result<HashSet<String>, Error> {
        let mut names = HashSet::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .list_groups(pool.id, after.as_deref(), 500)
                .await?;
            let full = page.len() == 500;
            after = page.last().map(|g| g.name.clone());
            names.extend(page.into_iter().map(|g| g.name));
            if !full {
                return Ok(names);
            }
        }
    }

    /// Imports one line. `Err` is the store's failure (the import stops there: the line
    /// may be tried again); a line that cannot go in is `Ok(Imported::Refused)`.
    pub async fn import_line(
        &self,
        pool: &PoolRecord,
        groups: &HashSet<String>,
        text: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<Imported, Error> {
        let new = match self.import_plan(pool, groups, text, now) {
            Ok(new) => new,
            Err(r) => return Ok(Imported::Refused(r)),
        };
        let id = new.account.id;
        let scheme = new
            .password_hash
            .as_deref()
            .and_then(|h| legacy_hash::check(h).ok());
        let audit = Self::audit(
            pool.id,
            Some(id),
            "user_imported",
            json!({
                "actor": actor,
                "email": new.email.is_some(),
                "wallets": new.wallets.len(),
                "password_hash": scheme.map(|s| format!("{s:?}").to_lowercase()),
            }),
            now,
        );
        match self.store.insert_admin_account(&new, &audit).await {
            Ok(()) => Ok(Imported::Account(id)),
            Err(Error::EmailTaken) => Ok(Imported::Refused(refuse(
                "email_taken",
                "another account has this email",
            ))),
            Err(Error::WalletAlreadyLinked) => Ok(Imported::Refused(refuse(
                "wallet_already_linked",
                "another account has this wallet",
            ))),
            Err(Error::AccountExists) => Ok(Imported::Refused(refuse(
                "sub_taken",
                "an account has this sub (leave `sub` out to give it a new one)",
            ))),
            Err(e) => Err(e),
        }
    }

    /// The account a line describes, checked; why not otherwise.
    fn import_plan(
        &self,
        pool: &PoolRecord,
        groups: &HashSet<String>,
        text: &str,
        now: i64,
    ) -> Result<NewAdminAccount, LineRefusal> {
        let line: UserLine = serde_json::from_str(text).map_err(|e| {
            let code = if e.is_data() {
                "invalid_line"
            } else {
                "invalid_json"
            };
            refuse(code, e.to_string())
        })?;
        if line.email.is_none() && line.wallets.is_empty() {
            return Err(refuse("invalid_line", "give an email, a wallet or both"));
        }
        let email = match &line.email {
            Some(e) => Some(Email::parse(e).map_err(|e| refuse("invalid_email", e.to_string()))?),
            None => None,
        };
        if line.password_hash.is_some() && email.is_none() {
            return Err(refuse(
                "invalid_line",
                "a password needs an email to sign in with",
            ));
        }
        if let Some(h) = &line.password_hash {
            legacy_hash::check(h).map_err(|why| refuse("invalid_password_hash", why))?;
        }
        let attributes = super::profile::validate_attributes(Map::new(), line.attributes)
            .map_err(|e| refuse("invalid_attributes", e.to_string()))?;
        if let Some(g) = line.groups.iter().find(|g| !groups.contains(*g)) {
            return Err(refuse(
                "group_not_found",
                format!("the pool has no group {g:?}"),
            ));
        }
        let id = match &line.sub {
            Some(s) => {
                AccountId::parse(s).ok_or_else(|| refuse("invalid_line", "`sub` is a UUID"))?
            }
            None => AccountId::new(),
        };
        let status = match line.status {
            None | Some(AccountStatus::Active) => AccountStatus::Active,
            Some(AccountStatus::Disabled) => AccountStatus::Disabled,
            Some(AccountStatus::Pending) => {
                return Err(refuse("invalid_line", "`status` is active or disabled"));
            }
        };
        let mut wallets = Vec::new();
        let mut keys = HashSet::new();
        for w in &line.wallets {
            let (text, kind) = match w {
                LineWallet::Eoa(t) => (t, WalletKind::Eoa),
                LineWallet::Typed { caip10, kind } => (caip10, *kind),
            };
            let caip10 = parse_wallet(text).map_err(|e| refuse("invalid_wallet", e.to_string()))?;
            let proven = ProvenWallet { kind, caip10 };
            if !keys.insert((proven.key_chain(), proven.address_key())) {
                return Err(refuse("invalid_wallet", "the same wallet twice"));
            }
            wallets.push(proven.record(pool, id, now));
        }
        let mut groups: Vec<String> = line.groups;
        groups.sort();
        groups.dedup();
        Ok(NewAdminAccount {
            account: AccountRecord {
                id,
                pool_id: pool.id,
                status,
                attributes,
                created_at: now,
                updated_at: now,
            },
            email: email.map(|e| (e, line.email_verified)),
            wallets,
            invitation: None,
            password_hash: line.password_hash,
            groups,
        })
    }
}
