//! The second step of a sign-in on the hosted pages (DESIGN, Multi-factor authentication):
//! after a first factor that must be followed by a second, the challenge page asks for a
//! code (an authenticator app's, one mailed on request, or a backup code). Under a
//! `required` policy an account without a factor enrols one here: the app's secret and its
//! QR code (inline SVG, so the strict CSP holds), whose first code answers the challenge;
//! the backup codes it yields are shown once before the person goes on.

use accounts::policy::Factor;
use accounts::store::{PoolRecord, SessionRecord};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::{CsrfToken, FormState, Frame, PageForm, refusal, respond};
use crate::flows::mfa::{self, Outcome};
use crate::flows::{self};
use crate::http::browser;
use crate::http::error::AppError;
use crate::http::extract::{Caller, ClientIp, Pool};
use crate::state::AppState;
use crate::words::{MfaPageWords, words};

/// A factor the person may pick.
struct Choice {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

/// An authenticator app to set up: its secret typed in, or its QR code scanned.
struct AppSetup {
    secret: String,
    qr_svg: String,
}

#[derive(Template)]
#[template(path = "pages/mfa.html")]
struct ChallengePage<'a> {
    frame: Frame<'a>,
    form: FormState<'a>,
    m: &'static MfaPageWords,
    session: &'a str,
    choices: Vec<Choice>,
    email: bool,
    /// Whether a passkey answers it (its button, not a typed code).
    passkey_factor: bool,
    passkey: &'static crate::words::PasskeyWords,
    app: Option<AppSetup>,
}

#[derive(Template)]
#[template(path = "pages/backup_codes.html")]
struct BackupCodesPage<'a> {
    frame: Frame<'a>,
    m: &'static MfaPageWords,
    codes: Vec<String>,
    next: String,
}

#[derive(Deserialize)]
pub(super) struct ChallengeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    authz: String,
    #[serde(default)]
    session: String,
    #[serde(default)]
    factor: String,
    #[serde(default)]
    code: String,
}

impl CsrfToken for ChallengeForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A first factor's outcome on a page: signed in, or the challenge page.
pub(super) async fn after_first_factor(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    authz: &str,
    outcome: Outcome,
) -> Result<Response, AppError> {
    match outcome {
        Outcome::Done(issued) => {
            super::signed_in(state, pool, headers, &issued.session, authz).await
        }
        Outcome::Challenge(ch) => {
            let shown = Shown {
                handle: ch.handle.expose(),
                factors: &ch.factors,
                setup: ch.setup,
                picked: None,
            };
            challenge_page(state, pool, headers, authz, shown, None, None).await
        }
    }
}

/// Whether an authorization asking `acr_values=mfa` must first step `session` up: it has
/// no second factor and the pool has factors to ask for.
pub fn needs_step_up(
    pool: &PoolRecord,
    req: &crate::oauth::request::AuthRequest,
    session: &SessionRecord,
) -> bool {
    req.acr_mfa
        && pool.config.mfa.mode != accounts::policy::MfaMode::Off
        && !session.amr.iter().any(|m| m == "mfa")
}

/// The step-up challenge page for the browser's session (`cookies` set with it).
pub(super) async fn step_up(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    authz: &str,
    session: &SessionRecord,
    cookies: &[HeaderValue],
) -> Result<Response, AppError> {
    let ch = mfa::step_up(state, pool, session).await?;
    let shown = Shown {
        handle: ch.handle.expose(),
        factors: &ch.factors,
        setup: ch.setup,
        picked: None,
    };
    let mut res = challenge_page(state, pool, headers, authz, shown, None, None).await?;
    for c in cookies {
        res.headers_mut().append(header::SET_COOKIE, c.clone());
    }
    Ok(res)
}

/// `GET /login/step-up?authz=…`: a signed-in browser whose application asks for a second
/// factor answers only that; without a browser session, the login page.
pub(super) async fn step_up_page(
    State(state): State<AppState>,
    Pool(pool): Pool,
    headers: HeaderMap,
    Query(q): Query<super::login::Authz>,
) -> Result<Response, AppError> {
    match browser::session(&state, &pool, &headers).await? {
        Some(session) => step_up(&state, &pool, &headers, &q.authz, &session, &[]).await,
        None => {
            Ok(super::login::login_page(&state, &pool, &headers, &q.authz, "", None, None).await)
        }
    }
}

/// What the challenge page shows.
struct Shown<'a> {
    handle: &'a str,
    factors: &'a [Factor],
    setup: bool,
    picked: Option<Factor>,
}

async fn challenge_page(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    authz: &str,
    shown: Shown<'_>,
    notice: Option<String>,
    refused: Option<(StatusCode, String)>,
) -> Result<Response, AppError> {
    let m = &words().mfa_page;
    let (csrf, set) = browser::csrf_token(state, headers);
    let mut frame = Frame::new(pool, if shown.setup { m.setup_title } else { m.title });
    frame.notice =
        notice.or_else(|| Some(if shown.setup { m.setup_intro } else { m.intro }.into()));
    let status = refused.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    frame.error = refused.map(|(_, e)| e);
    let app = match shown.setup && shown.factors.contains(&Factor::Totp) {
        true => {
            let enrolment = mfa::start_totp(state, pool, shown.handle, true).await?;
            Some(AppSetup {
                qr_svg: qr_svg(enrolment.otpauth_uri.expose())?,
                secret: enrolment.secret.expose().to_string(),
            })
        }
        false => None,
    };
    let picked = shown.picked.or_else(|| {
        shown
            .factors
            .iter()
            .copied()
            .find(|f| *f != Factor::Passkey)
    });
    let passkey_factor = !shown.setup && shown.factors.contains(&Factor::Passkey);
    frame.passkeys = passkey_factor;
    let choices = shown
        .factors
        .iter()
        .filter(|f| **f != Factor::Passkey)
        .map(|f| Choice {
            value: f.as_str(),
            label: match f {
                Factor::Totp => m.factor_totp,
                Factor::Email => m.factor_email,
                Factor::BackupCode => m.factor_backup_code,
                Factor::Passkey => m.factor_passkey,
            },
            checked: Some(*f) == picked,
        })
        .collect();
    let page = ChallengePage {
        frame,
        form: FormState::new(csrf, authz, ""),
        m,
        session: shown.handle,
        choices,
        email: shown.factors.contains(&Factor::Email),
        passkey_factor,
        passkey: &words().passkey,
        app,
    };
    let target = super::login::form_target(state, pool, authz).await;
    Ok(respond(
        pool,
        &page,
        status,
        target.as_deref(),
        set.as_slice(),
    ))
}

/// The `otpauth://` URI as a QR code, inline SVG (the page's CSP allows no other source).
fn qr_svg(uri: &str) -> Result<String, AppError> {
    let code = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| AppError::Internal(format!("the QR code did not encode: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

/// `POST /login/mfa`: a code answers the challenge; the person is signed in (after seeing
/// the backup codes of an app just enrolled), or sees the page again with what went wrong.
pub(super) async fn answer(
    State(state): State<AppState>,
    Pool(pool): Pool,
    caller: Caller,
    headers: HeaderMap,
    PageForm(f): PageForm<ChallengeForm>,
) -> Result<Response, AppError> {
    let factor = Factor::parse(&f.factor).ok_or(accounts::Error::FactorNotAllowed);
    let outcome = match factor {
        Ok(factor) => mfa::answer(&state, &pool, &caller, &f.session, factor, f.code.trim()).await,
        Err(e) => Err(flows::Error::from(e)),
    };
    match outcome {
        Ok(answered) => {
            let done =
                super::signed_in(&state, &pool, &headers, &answered.issued.session, &f.authz)
                    .await?;
            match answered.backup_codes {
                None => Ok(done),
                Some(codes) => Ok(backup_codes_page(&pool, done, codes)),
            }
        }
        Err(e) => again(&state, &pool, &headers, &f, None, Some(refusal(&e.into()))).await,
    }
}

/// The page again after a refusal or a mailed code; a dead challenge sends the person back
/// to sign in.
async fn again(
    state: &AppState,
    pool: &PoolRecord,
    headers: &HeaderMap,
    f: &ChallengeForm,
    notice: Option<String>,
    refused: Option<(StatusCode, String)>,
) -> Result<Response, AppError> {
    let Ok((factors, setup)) = mfa::describe(state, pool, &f.session).await else {
        let dead = AppError::from(accounts::Error::MfaSessionInvalid);
        let refused = Some(refusal(&dead));
        return Ok(
            super::login::login_page(state, pool, headers, &f.authz, "", refused, None).await,
        );
    };
    let picked = Factor::parse(&f.factor);
    let shown = Shown {
        handle: &f.session,
        factors: &factors,
        setup,
        picked,
    };
    challenge_page(state, pool, headers, &f.authz, shown, notice, refused).await
}

/// `POST /login/mfa/email`: mails a code for the challenge.
pub(super) async fn send_email_code(
    State(state): State<AppState>,
    Pool(pool): Pool,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    PageForm(mut f): PageForm<ChallengeForm>,
) -> Result<Response, AppError> {
    f.factor = Factor::Email.as_str().into();
    match mfa::send_email_code(&state, &pool, &ip, &f.session).await {
        Ok(()) => {
            let sent = words().mfa_page.email_sent.to_string();
            again(&state, &pool, &headers, &f, Some(sent), None).await
        }
        Err(e) => again(&state, &pool, &headers, &f, None, Some(refusal(&e.into()))).await,
    }
}

/// The backup codes of an app just enrolled, once, and the way on: where the sign-in
/// would have gone (the application's redirect, or the signed-in page), with its cookies.
fn backup_codes_page(
    pool: &PoolRecord,
    done: Response,
    codes: Vec<accounts::secret::Secret>,
) -> Response {
    let m = &words().mfa_page;
    let next = done
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| format!("{}/account", super::base(pool)), str::to_string);
    let cookies: Vec<_> = done
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    let page = BackupCodesPage {
        frame: Frame::new(pool, m.backup_codes_title),
        m,
        codes: codes.iter().map(|c| c.expose().to_string()).collect(),
        next,
    };
    respond(pool, &page, StatusCode::OK, None, &cookies)
}
