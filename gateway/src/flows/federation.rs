//! Signing in through an upstream IdP (DESIGN, Federation), for the hosted pages:
//!
//! 1. `start`: a fresh `state`, `nonce` and PKCE verifier (OIDC, OAuth 2.0) or AuthnRequest
//!    `ID` (SAML, with `state` as its `RelayState`) wait in the ephemeral store (ten
//!    minutes, under a keyed hash of `state`), bound to the pool, the IdP, a pending
//!    authorization and a random browser binding the caller sets as a cookie. Any instance
//!    can finish what another started.
//! 2. `callback` (`saml_acs`): the `state` is taken once (a replay finds nothing), the
//!    browser must bring the binding it was given (a `state` forged or carried to another
//!    browser is refused: login CSRF), then the code is redeemed upstream and the identity
//!    checked there (the SAML Response verified, for this request, its assertion used once).
//! 3. The identity signs in to its account, creates one on its first sign-in, links to the
//!    signed-in account (`?link=1`), or, when its trusted email belongs to an account, waits
//!    (ten minutes, by a handle the caller keeps in a cookie) until the person has signed in
//!    to that account: only then does it link (`finish_link`). Nothing links silently.

use accounts::idp::IdpKind;
use accounts::secret::random_token;
use accounts::store::{IdpRecord, PoolRecord, SessionRecord};
use accounts::{AccountId, Federated, PoolId, Upstream};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::mfa::{self, Outcome};
use super::sign_in::{Caller, note_origin};
use crate::federation::{self, Pending, saml};
use crate::metrics::SignInMethod;
use crate::oauth::pkce;
use crate::state::AppState;

/// How long a sign-in may stay at the IdP, and a link wait for its sign-in, seconds.
pub const FLOW_TTL: u64 = 600;

/// Why a federated sign-in did not complete.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `state` is unknown, used, expired, of another IdP or pool, or not this browser's.
    #[error("the sign-in's state is not valid here")]
    StateInvalid,
    /// The IdP said no (the person cancelled, or it refused the request).
    #[error("the identity provider refused the sign-in: {0}")]
    Denied(String),
    #[error(transparent)]
    Upstream(#[from] federation::Error),
    #[error(transparent)]
    Flow(#[from] super::Error),
}

impl From<accounts::Error> for Error {
    fn from(e: accounts::Error) -> Self {
        Error::Flow(e.into())
    }
}

/// A sign-in in flight at the IdP.
#[derive(Serialize, Deserialize)]
struct InFlight {
    pool: PoolId,
    idp: String,
    verifier: String,
    nonce: String,
    /// A keyed hash of the browser's binding cookie.
    binding: String,
    /// The pending authorization request it continues, if any.
    authz: String,
    /// The signed-in account an identity links to (`?link=1`).
    link: Option<AccountId>,
    /// SAML: the AuthnRequest's `ID` (the Response's `InResponseTo`).
    #[serde(default)]
    request_id: Option<String>,
}

/// An identity waiting for its person to sign in to the account that has its email.
#[derive(Serialize, Deserialize)]
struct LinkWait {
    pool: PoolId,
    idp: String,
    account: AccountId,
    upstream: Upstream,
}

/// Where the browser goes, and the binding it keeps meanwhile (a cookie).
pub struct Started {
    pub location: String,
    pub binding: String,
}

/// What the IdP sent back through the browser.
pub struct Callback<'a> {
    pub state: &'a str,
    pub code: Option<&'a str>,
    pub error: Option<&'a str>,
    /// The binding cookie the browser brought, if any.
    pub binding: Option<&'a str>,
    /// Apple's `user` form field.
    pub apple_user: Option<&'a str>,
}

/// How a callback ended.
pub enum Done {
    /// Signed in (or a second factor to answer), continuing `authz`.
    SignedIn { outcome: Outcome, authz: String },
    /// The identity was linked to the signed-in account.
    Linked { authz: String },
    /// The identity's email belongs to an account: the person signs in to it, and the
    /// identity links then. `handle` names the wait (a cookie).
    LinkFirst {
        handle: String,
        email: String,
        idp_name: String,
        authz: String,
    },
}

fn state_key(state: &AppState, token: &str) -> String {
    format!("fed:{}", state.users.mac("federation-state", token))
}

fn link_key(state: &AppState, handle: &str) -> String {
    format!("fedlink:{}", state.users.mac("federation-link", handle))
}

/// The callback URL registered at the IdP: `{issuer}/federation/{idp}/callback`.
pub fn redirect_uri(state: &AppState, pool: &PoolRecord, idp: &str) -> String {
    format!(
        "{}/federation/{idp}/callback",
        state.config.issuer(&pool.name)
    )
}

/// The pool's enabled IdP of that name.
async fn enabled_idp(
    state: &AppState,
    pool: &PoolRecord,
    name: &str,
) -> Result<accounts::store::IdpRecord, Error> {
    let idp = state.users.identity_provider(pool, name).await?;
    if !idp.config.enabled {
        return Err(accounts::Error::IdpNotFound.into());
    }
    Ok(idp)
}

/// Starts a sign-in (or, with `link`, a link to that signed-in account) through `idp`.
pub async fn start(
    state: &AppState,
    pool: &PoolRecord,
    idp_name: &str,
    authz: &str,
    link: Option<AccountId>,
) -> Result<Started, Error> {
    let idp = enabled_idp(state, pool, idp_name).await?;
    let now = state.clock.now();
    let token = random_token();
    let nonce = random_token();
    let verifier = random_token();
    let binding = random_token();
    let (location, request_id) = match idp.config.kind {
        IdpKind::Saml => {
            let meta = state.federation.saml_metadata(&idp.config, now).await?;
            // An xs:ID (an NCName): a letter or `_` first.
            let id = format!("_{}", hex::encode(accounts::secret::random_bytes::<20>()));
            let sp = SpUrls::of(state, pool, &idp);
            let location = saml::redirect(&meta, &sp.sp(), &id, token.expose(), now)?;
            (location, Some(id))
        }
        IdpKind::Oidc | IdpKind::Oauth2 => {
            let endpoints = state.federation.endpoints(&idp.config, now).await?;
            let location = state.federation.authorize_url(
                &idp,
                &endpoints,
                &redirect_uri(state, pool, &idp.name),
                token.expose(),
                nonce.expose(),
                &pkce::s256(verifier.expose()),
            )?;
            (location, None)
        }
    };
    let flight = InFlight {
        pool: pool.id,
        idp: idp.name.clone(),
        verifier: verifier.expose().to_string(),
        nonce: nonce.expose().to_string(),
        binding: state.users.mac("federation-binding", binding.expose()),
        authz: authz.to_string(),
        link,
        request_id,
    };
    let value =
        serde_json::to_string(&flight).map_err(|e| accounts::Error::Ephemeral(e.to_string()))?;
    state
        .ephemeral
        .put_new(
            &state_key(state, token.expose()),
            &value,
            Duration::from_secs(FLOW_TTL),
        )
        .await?;
    Ok(Started {
        location,
        binding: binding.expose().to_string(),
    })
}

/// The SP's URLs for a SAML IdP: entity id `{issuer}/saml/{idp}`, its ACS and metadata
/// under it (DESIGN, the HTTP API).
pub struct SpUrls {
    pub entity_id: String,
    pub acs: String,
    pub name_id_format: String,
}

impl SpUrls {
    pub fn of(state: &AppState, pool: &PoolRecord, idp: &IdpRecord) -> Self {
        let entity_id = format!("{}/saml/{}", state.config.issuer(&pool.name), idp.name);
        SpUrls {
            acs: format!("{entity_id}/acs"),
            entity_id,
            name_id_format: idp
                .config
                .name_id_format
                .clone()
                .unwrap_or_else(|| saml::PERSISTENT.to_string()),
        }
    }

    pub fn sp(&self) -> saml::Sp<'_> {
        saml::Sp {
            entity_id: &self.entity_id,
            acs: &self.acs,
            name_id_format: &self.name_id_format,
        }
    }
}

/// Takes the sign-in `cb.state` names, if it is this browser's, this pool's and this IdP's.
async fn take_flight(
    state: &AppState,
    pool: &PoolRecord,
    idp_name: &str,
    cb: &Callback<'_>,
) -> Result<InFlight, Error> {
    if cb.state.is_empty() || cb.state.len() > 128 {
        return Err(Error::StateInvalid);
    }
    let Some(raw) = state.ephemeral.take(&state_key(state, cb.state)).await? else {
        return Err(Error::StateInvalid);
    };
    let flight: InFlight = serde_json::from_str(&raw).map_err(|_| Error::StateInvalid)?;
    let bound = cb.binding.is_some_and(|b| {
        let mac = state.users.mac("federation-binding", b);
        aws_lc_rs::constant_time::verify_slices_are_equal(mac.as_bytes(), flight.binding.as_bytes())
            .is_ok()
    });
    if flight.pool != pool.id || flight.idp != idp_name || !bound {
        return Err(Error::StateInvalid);
    }
    Ok(flight)
}

/// Finishes what an OIDC or OAuth 2.0 IdP sent back: see the module's documentation.
pub async fn callback(
    state: &AppState,
    pool: &PoolRecord,
    idp_name: &str,
    caller: &Caller,
    cb: &Callback<'_>,
) -> Result<Done, Error> {
    let outcome = async {
        let flight = take_flight(state, pool, idp_name, cb).await?;
        let idp = enabled_idp(state, pool, idp_name).await?;
        let upstream = identify(state, pool, &idp, cb, &flight).await?;
        signed_in(state, pool, &idp, caller, flight, upstream).await
    }
    .await;
    counted_failure(state, pool, idp_name, outcome)
}

/// What the IdP posted to the ACS (SAML's HTTP-POST binding).
pub struct SamlPost<'a> {
    /// `SAMLResponse`, base64.
    pub response: &'a str,
    /// `RelayState`: our `state`.
    pub relay_state: &'a str,
    /// The binding cookie the browser brought, if any.
    pub binding: Option<&'a str>,
}

/// Finishes a SAML sign-in: the Response, verified and checked for this very request, and
/// its assertion's ID never seen before (the replay cache, in the ephemeral store, so it
/// holds across instances).
pub async fn saml_acs(
    state: &AppState,
    pool: &PoolRecord,
    idp_name: &str,
    caller: &Caller,
    post: &SamlPost<'_>,
) -> Result<Done, Error> {
    let outcome = async {
        let cb = Callback {
            state: post.relay_state,
            code: None,
            error: None,
            binding: post.binding,
            apple_user: None,
        };
        let flight = take_flight(state, pool, idp_name, &cb).await?;
        let idp = enabled_idp(state, pool, idp_name).await?;
        let upstream = saml_identify(state, pool, &idp, post.response, &flight).await?;
        signed_in(state, pool, &idp, caller, flight, upstream).await
    }
    .await;
    counted_failure(state, pool, idp_name, outcome)
}

async fn saml_identify(
    state: &AppState,
    pool: &PoolRecord,
    idp: &IdpRecord,
    response: &str,
    flight: &InFlight,
) -> Result<Upstream, Error> {
    use base64::Engine;
    let refused = |why: &str| Error::Upstream(federation::Error::Refused(why.into()));
    if response.len() > saml::MAX_RESPONSE {
        return Err(refused("a Response too large"));
    }
    let compact: String = response.split_whitespace().collect();
    let xml = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| refused("a Response that is not base64 UTF-8"))?;
    let now = state.clock.now();
    let meta = state.federation.saml_metadata(&idp.config, now).await?;
    let sp = SpUrls::of(state, pool, idp);
    let request_id = flight
        .request_id
        .as_deref()
        .ok_or_else(|| refused("no request"))?;
    let asserted = saml::validate(
        &xml,
        &meta,
        &saml::Expected {
            sp: &sp.sp(),
            request_id,
            allow_sha1: idp.config.allow_sha1,
            now,
        },
    )?;
    // SAML Profiles §4.1.4.5: an assertion is used once, whichever instance sees it.
    let key = format!(
        "samlid:{}",
        state.users.mac(
            "saml-assertion",
            &format!("{}|{}|{}", pool.id, idp.name, asserted.id)
        )
    );
    let ttl = (asserted.not_on_or_after - now + 120).clamp(60, 86_400);
    let ttl = Duration::from_secs(u64::try_from(ttl).unwrap_or(60));
    if !state.ephemeral.put_new(&key, "1", ttl).await? {
        return Err(refused("an assertion used before"));
    }
    let c = &idp.config;
    let email = asserted
        .attributes
        .get(&c.email_field)
        .and_then(|v| v.as_str())
        .map(str::to_string);
    Ok(Upstream {
        subject: asserted.name_id,
        email,
        // SAML asserts no "verified": a `trust_email` IdP's directory addresses are.
        email_verified: c.trust_email,
        claims: asserted.attributes,
    })
}

/// Counts a federated sign-in that failed (a success was counted where it was made), and
/// logs why an upstream answer was refused.
fn counted_failure(
    state: &AppState,
    pool: &PoolRecord,
    idp_name: &str,
    outcome: Result<Done, Error>,
) -> Result<Done, Error> {
    if let Err(e) = &outcome {
        let result = match e {
            Error::Upstream(federation::Error::Unavailable(_)) => {
                crate::metrics::SignInResult::Error
            }
            Error::Flow(f) => f.sign_in_result(),
            _ => crate::metrics::SignInResult::Failure,
        };
        state
            .metrics
            .sign_in(&pool.name, SignInMethod::Federated, result);
        if let Error::Upstream(u) = e {
            tracing::warn!(idp = idp_name, error = %u, "a federated sign-in was refused");
        }
    }
    outcome
}

/// The OIDC or OAuth 2.0 identity behind the callback's code.
async fn identify(
    state: &AppState,
    pool: &PoolRecord,
    idp: &IdpRecord,
    cb: &Callback<'_>,
    flight: &InFlight,
) -> Result<Upstream, Error> {
    if let Some(error) = cb.error {
        let shown: String = error
            .chars()
            .filter(char::is_ascii_graphic)
            .take(64)
            .collect();
        return Err(Error::Denied(shown));
    }
    let code = cb
        .code
        .filter(|c| !c.is_empty() && c.len() <= 2048)
        .ok_or_else(|| Error::Denied("no code".into()))?;
    let secrets = state.users.idp_secrets(idp)?;
    let now = state.clock.now();
    let redirect = redirect_uri(state, pool, &idp.name);
    let pending = Pending {
        code,
        verifier: &flight.verifier,
        nonce: &flight.nonce,
        redirect_uri: &redirect,
        apple_user: cb.apple_user,
    };
    Ok(state
        .federation
        .identify(idp, &secrets, &pending, now)
        .await?)
}

/// A verified upstream identity: linked to the signed-in account (`?link=1`), signed in,
/// or waiting for its email's account to sign in.
async fn signed_in(
    state: &AppState,
    pool: &PoolRecord,
    idp: &IdpRecord,
    caller: &Caller,
    flight: InFlight,
    upstream: Upstream,
) -> Result<Done, Error> {
    let now = state.clock.now();
    if let Some(account) = flight.link {
        state
            .users
            .link_identity(pool, account, idp, &upstream, now)
            .await?;
        state.mail.wake();
        return Ok(Done::Linked {
            authz: flight.authz,
        });
    }
    let mut ctx = super::hooks::context(pool, caller, accounts::hooks::Method::Federated);
    ctx.idp = Some(idp.name.clone());
    ctx.email.clone_from(&upstream.email);
    let pre_sign_up = accounts::hooks::Trigger::PreSignUp;
    if state.hooks.has(pool.id, pre_sign_up, &ctx, now).await
        && !state.users.identity_linked(pool, idp, &upstream).await?
    {
        // A first sign-in with this identity creates an account: a sign-up. (Auto-confirm
        // changes nothing here: the IdP's email is trusted by the pool's setting alone.)
        let data = serde_json::json!({
            "upstream": { "subject": upstream.subject, "email_verified": upstream.email_verified },
        });
        super::hooks::pre_sign_up(state, pool, &ctx, data).await?;
    }
    super::hooks::pre_authentication(state, pool, &ctx).await?;
    let signed_in = state
        .users
        .sign_in_federated(pool, idp, &upstream, &caller.session_request(), now)
        .await;
    match signed_in? {
        Federated::SignedIn(s) => {
            let outcome = mfa::settle(state, s).await?;
            if let Outcome::Done(issued) = &outcome {
                note_origin(state, pool, caller, issued).await;
            }
            let outcome = super::counted(state, pool, SignInMethod::Federated, Ok(outcome))?;
            Ok(Done::SignedIn {
                outcome,
                authz: flight.authz,
            })
        }
        Federated::LinkFirst { account, email } => {
            let handle = random_token();
            let wait = LinkWait {
                pool: pool.id,
                idp: idp.name.clone(),
                account,
                upstream,
            };
            let value = serde_json::to_string(&wait)
                .map_err(|e| accounts::Error::Ephemeral(e.to_string()))?;
            state
                .ephemeral
                .put_new(
                    &link_key(state, handle.expose()),
                    &value,
                    Duration::from_secs(FLOW_TTL),
                )
                .await?;
            Ok(Done::LinkFirst {
                handle: handle.expose().to_string(),
                email,
                idp_name: idp.config.display_name.clone(),
                authz: flight.authz,
            })
        }
    }
}

/// After a sign-in on the pages: links the identity waiting under `handle` when `session`
/// is the account it waits for (the person proved both sides). Another account's sign-in
/// drops the wait. True when linked.
pub async fn finish_link(
    state: &AppState,
    pool: &PoolRecord,
    handle: &str,
    session: &SessionRecord,
) -> Result<bool, Error> {
    if handle.is_empty() || handle.len() > 128 {
        return Ok(false);
    }
    let Some(raw) = state.ephemeral.take(&link_key(state, handle)).await? else {
        return Ok(false);
    };
    let Ok(wait) = serde_json::from_str::<LinkWait>(&raw) else {
        return Ok(false);
    };
    if wait.pool != pool.id || wait.account != session.account_id {
        return Ok(false);
    }
    let idp = enabled_idp(state, pool, &wait.idp).await?;
    let now = state.clock.now();
    state
        .users
        .link_identity(pool, wait.account, &idp, &wait.upstream, now)
        .await?;
    state.mail.wake();
    Ok(true)
}
