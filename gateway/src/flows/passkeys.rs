//! Passkeys (WebAuthn Level 3, through webauthn-rs): registration by a signed-in account,
//! sign-in with a passkey alone (a discoverable credential, user verification required:
//! `amr` holds the key, `user` and `mfa`), and a passkey answering a second-factor
//! challenge. Each ceremony's state waits in the ephemeral store between its two requests
//! (five minutes, taken once), so any instance can finish what another started.
//!
//! The relying party is the pool's `passkey_rp_id` (default: the public URL's host) and its
//! pages' origins `passkey_origins` (default: the public URL's origin); an assertion from
//! another origin or for another RP id, a credential of another account or pool, and a
//! signature counter that went backwards are refused (`passkey_invalid`).

use accounts::policy::Factor;
use accounts::secret::random_token;
use accounts::store::{PasskeyRecord, PoolRecord};
use accounts::{AccountId, Issued, NewPasskey, PasskeyView};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use std::time::Duration;
use url::Url;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Webauthn, WebauthnBuilder,
};

use super::Error;
use super::sign_in::Caller;
use crate::metrics::SignInMethod;
use crate::ratelimit::{self, ATTEMPTS_PER_IP};
use crate::state::AppState;

/// How long a ceremony's state waits for its second request, seconds.
pub const CEREMONY_TTL: u64 = 300;

fn invalid() -> Error {
    accounts::Error::PasskeyInvalid.into()
}

/// The pool's relying party.
fn relying_party(state: &AppState, pool: &PoolRecord) -> Result<Webauthn, Error> {
    let public = &state.config.public_url;
    let rp_id = match &pool.config.passkey_rp_id {
        Some(id) => id.clone(),
        None => public.host_str().unwrap_or_default().to_string(),
    };
    let origins: Vec<Url> = match pool.config.passkey_origins.is_empty() {
        true => vec![Url::parse(&public.origin().ascii_serialization()).map_err(|_| invalid())?],
        false => pool
            .config
            .passkey_origins
            .iter()
            .filter_map(|o| Url::parse(o).ok())
            .collect(),
    };
    let first = origins.first().ok_or_else(invalid)?;
    // An origin whose host is not the RP id or under it, or an IP address (WebAuthn
    // has no IP relying parties), is a configuration the ceremony cannot pass.
    let mut builder = WebauthnBuilder::new(&rp_id, first)
        .map_err(|_| invalid())?
        .rp_name(&pool.config.display_name);
    for o in &origins[1..] {
        builder = builder.append_allowed_origin(o);
    }
    builder.build().map_err(|_| invalid())
}

async fn keep(state: &AppState, key: &str, value: &impl serde::Serialize) -> Result<(), Error> {
    let json = serde_json::to_string(value).map_err(|_| accounts::Error::Crypto)?;
    state.ephemeral.delete(key).await?;
    state
        .ephemeral
        .put_new(key, &json, Duration::from_secs(CEREMONY_TTL))
        .await?;
    Ok(())
}

async fn take<T: serde::de::DeserializeOwned>(state: &AppState, key: &str) -> Result<T, Error> {
    state
        .ephemeral
        .take(key)
        .await?
        .and_then(|v| serde_json::from_str(&v).ok())
        .ok_or_else(invalid)
}

fn registration_key(state: &AppState, account: AccountId) -> String {
    format!(
        "passkey-reg:{}",
        state.users.mac("passkey-reg", &account.to_string())
    )
}

fn stored(passkey: &Passkey) -> Result<String, Error> {
    serde_json::to_string(passkey).map_err(|_| accounts::Error::Crypto.into())
}

fn restored(record: &PasskeyRecord) -> Result<Passkey, Error> {
    serde_json::from_str(&record.credential).map_err(|_| accounts::Error::Crypto.into())
}

/// `POST /v1/me/passkeys/options`: the options of a registration (`{publicKey}`), asking
/// for a discoverable credential with user verification; the account's passkeys excluded.
pub async fn registration_options(
    state: &AppState,
    pool: &PoolRecord,
    account: AccountId,
) -> Result<Value, Error> {
    let rp = relying_party(state, pool)?;
    let view = state.users.account(pool, account).await?;
    let name = view.email.clone().unwrap_or_else(|| account.to_string());
    let mut exclude = Vec::new();
    for record in state.users.passkeys(account).await? {
        exclude.push(restored(&record)?.cred_id().clone());
    }
    let (options, registration) = rp
        .start_passkey_registration(account.0, &name, &name, Some(exclude))
        .map_err(|_| invalid())?;
    keep(state, &registration_key(state, account), &registration).await?;
    let mut options = serde_json::to_value(options).map_err(|_| accounts::Error::Crypto)?;
    // A passkey is a discoverable credential (WebAuthn §5.4.4 `residentKey`), so it can
    // sign in without a name typed first.
    if let Some(selection) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(Value::as_object_mut)
    {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
        selection.insert("userVerification".into(), "required".into());
    }
    Ok(options)
}

/// `POST /v1/me/passkeys`: the browser's answer to the options; the passkey is stored.
pub async fn register(
    state: &AppState,
    pool: &PoolRecord,
    account: AccountId,
    credential: Value,
    name: Option<&str>,
) -> Result<PasskeyView, Error> {
    let registration: PasskeyRegistration = take(state, &registration_key(state, account)).await?;
    let credential: RegisterPublicKeyCredential =
        serde_json::from_value(credential).map_err(|_| invalid())?;
    let passkey = relying_party(state, pool)?
        .finish_passkey_registration(&credential, &registration)
        .map_err(|e| {
            tracing::info!(error = %e, "a passkey registration was refused");
            invalid()
        })?;
    let credential_id = URL_SAFE_NO_PAD.encode(passkey.cred_id());
    let new = NewPasskey {
        credential_id: &credential_id,
        credential: stored(&passkey)?,
        name,
    };
    let view = state
        .users
        .add_passkey(pool, account, new, state.clock.now())
        .await?;
    state.mail.wake();
    Ok(view)
}

fn sign_in_key(state: &AppState, handle: &str) -> String {
    format!("passkey-auth:{}", state.users.mac("passkey-auth", handle))
}

/// `POST /v1/sessions/passkey/options`: a discoverable sign-in's options (no account named)
/// and the handle its answer comes back with.
pub async fn sign_in_options(
    state: &AppState,
    pool: &PoolRecord,
    ip: &str,
) -> Result<(String, Value), Error> {
    ratelimit::hit(state, pool, ATTEMPTS_PER_IP, ip).await?;
    let (options, auth) = relying_party(state, pool)?
        .start_discoverable_authentication()
        .map_err(|_| invalid())?;
    let handle = random_token().expose().to_string();
    keep(state, &sign_in_key(state, &handle), &auth).await?;
    let options = serde_json::to_value(options).map_err(|_| accounts::Error::Crypto)?;
    Ok((handle, options))
}

/// The key kind an assertion proves, as RFC 8176 names it: a backup-eligible (synced)
/// passkey is a software-secured key, another a hardware-secured one.
fn key_amr(result: &webauthn_rs::prelude::AuthenticationResult) -> &'static str {
    if result.backup_eligible() {
        "swk"
    } else {
        "hwk"
    }
}

/// `POST /v1/sessions/passkey`: a passkey alone signs in. Counted as a `passkey` sign-in.
pub async fn sign_in(
    state: &AppState,
    pool: &PoolRecord,
    caller: &Caller,
    handle: &str,
    credential: Value,
) -> Result<Issued, Error> {
    let outcome = check_sign_in(state, pool, caller, handle, credential).await;
    if let Ok(issued) = &outcome {
        super::sign_in::note_origin(state, pool, caller, issued).await;
    }
    super::counted(state, pool, SignInMethod::Passkey, outcome)
}

async fn check_sign_in(
    state: &AppState,
    pool: &PoolRecord,
    caller: &Caller,
    handle: &str,
    credential: Value,
) -> Result<Issued, Error> {
    ratelimit::hit(state, pool, ATTEMPTS_PER_IP, &caller.ip).await?;
    let auth: DiscoverableAuthentication = take(state, &sign_in_key(state, handle)).await?;
    let credential: PublicKeyCredential =
        serde_json::from_value(credential).map_err(|_| invalid())?;
    let rp = relying_party(state, pool)?;
    let (user, credential_id) = rp
        .identify_discoverable_authentication(&credential)
        .map_err(|_| invalid())?;
    let (record, mut passkey) = passkey_of(state, pool, credential_id, AccountId(user))
        .await?
        .ok_or_else(invalid)?;
    let result = rp
        .finish_discoverable_authentication_v2(&credential, auth, &passkey)
        .map_err(|e| {
            tracing::info!(error = %e, "a passkey assertion was refused");
            invalid()
        })?;
    // The pool's pre_authentication hook, now that the passkey proved the account.
    let mut ctx = super::hooks::context(pool, caller, accounts::hooks::Method::Passkey);
    ctx.sub = Some(record.account_id.to_string());
    super::hooks::pre_authentication(state, pool, &ctx).await?;
    let now = state.clock.now();
    used(state, &record, &mut passkey, &result, now).await?;
    Ok(state
        .users
        .sign_in_passkey(
            pool,
            &record,
            key_amr(&result),
            &caller.session_request(),
            now,
        )
        .await?)
}

/// The options of a passkey answering a second-factor challenge: the account's passkeys
/// allowed. The state waits beside the challenge.
pub async fn challenge_options(
    state: &AppState,
    pool: &PoolRecord,
    handle: &str,
) -> Result<Value, Error> {
    let ch = super::mfa::load(state, pool, handle).await?;
    if !ch.factors.contains(&Factor::Passkey) || ch.setup {
        return Err(accounts::Error::FactorNotAllowed.into());
    }
    let mut keys = Vec::new();
    for record in state.users.passkeys(ch.account).await? {
        keys.push(restored(&record)?);
    }
    let (options, auth) = relying_party(state, pool)?
        .start_passkey_authentication(&keys)
        .map_err(|_| invalid())?;
    keep(state, &super::mfa::passkey_key(state, handle), &auth).await?;
    Ok(serde_json::to_value(options).map_err(|_| accounts::Error::Crypto)?)
}

/// Whether `credential` is a valid assertion for the challenge's options (its counter is
/// stored when it is).
pub(super) async fn answers_challenge(
    state: &AppState,
    pool: &PoolRecord,
    key: &str,
    account: AccountId,
    credential: &str,
) -> Result<bool, Error> {
    let Ok(auth) = take::<PasskeyAuthentication>(state, key).await else {
        return Ok(false);
    };
    let Ok(credential) = serde_json::from_str::<PublicKeyCredential>(credential) else {
        return Ok(false);
    };
    let credential_id = credential.get_credential_id();
    let Some((record, mut passkey)) = passkey_of(state, pool, credential_id, account).await? else {
        return Ok(false);
    };
    let Ok(result) = relying_party(state, pool)?.finish_passkey_authentication(&credential, &auth)
    else {
        return Ok(false);
    };
    used(state, &record, &mut passkey, &result, state.clock.now()).await?;
    Ok(true)
}

/// The stored passkey a credential id names, if it is `account`'s in `pool`.
async fn passkey_of(
    state: &AppState,
    pool: &PoolRecord,
    credential_id: &[u8],
    account: AccountId,
) -> Result<Option<(PasskeyRecord, Passkey)>, Error> {
    let found = state
        .users
        .find_passkey(pool, &URL_SAFE_NO_PAD.encode(credential_id))
        .await?
        .filter(|r| r.account_id == account);
    match found {
        Some(record) => {
            let passkey = restored(&record)?;
            Ok(Some((record, passkey)))
        }
        None => Ok(None),
    }
}

/// Records a verified assertion: the credential's new counter, and the time.
async fn used(
    state: &AppState,
    record: &PasskeyRecord,
    passkey: &mut Passkey,
    result: &webauthn_rs::prelude::AuthenticationResult,
    now: i64,
) -> Result<(), Error> {
    passkey.update_credential(result);
    Ok(state
        .users
        .passkey_used(record, &stored(passkey)?, now)
        .await?)
}
