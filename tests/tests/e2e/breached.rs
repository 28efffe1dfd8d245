//! Passwords found in a breach corpus (a k-anonymity range API in the Have I Been Pwned
//! format, served here by a real HTTP server the test starts): refused as new passwords in
//! any spelling, told or blocked at sign-in per pool, and the corpus's outage under each
//! of the operator's settings.

use gatehouse_tests::{Gateway, World, clients_dir, unique_email};
use gateway::config::PwnedSettings;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Row;
use std::sync::Arc;

use crate::TestResult;
use crate::admin::{ADMIN, admin};

crate::tests!(
    new_passwords_from_a_breach_are_refused,
    sign_ins_with_a_breached_password_are_told_or_blocked,
    an_unreachable_corpus_fails_as_the_operator_chose,
);

const CLEAN: &str = "correct horse battery";
const BREACHED: &str = "P@ssw0rd-from-a-leak";

/// The range server (`tests/clients/range-server.py`) and its corpus file.
struct Corpus {
    _child: tokio::process::Child,
    dir: tempfile::TempDir,
    url: String,
}

impl Corpus {
    async fn start(hang: bool) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut cmd = tokio::process::Command::new("python3");
        cmd.arg(clients_dir()?.join("range-server.py"))
            .arg(dir.path());
        if hang {
            cmd.arg("--hang");
        }
        let (child, line) = gatehouse_tests::spawn_listening(cmd).await?;
        let port: u16 = line.trim().parse()?;
        let corpus = Corpus {
            _child: child,
            dir,
            url: format!("http://127.0.0.1:{port}/range/"),
        };
        corpus.add(BREACHED)?;
        Ok(corpus)
    }

    /// Adds a password to the corpus (read again on every request).
    fn add(&self, password: &str) -> anyhow::Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("passwords.txt"))?;
        writeln!(f, "{password}")?;
        Ok(())
    }

    fn settings(&self, timeout_ms: u64, fail_closed: bool) -> PwnedSettings {
        PwnedSettings {
            url: url::Url::parse(&self.url).expect("url"),
            timeout_ms,
            fail_closed,
        }
    }
}

async fn gateway(w: &World, pwned: PwnedSettings) -> anyhow::Result<Gateway> {
    w.start_with(|c| {
        c.admin_token = Some(accounts::secret::Secret::new(ADMIN));
        c.pwned = Some(pwned);
    })
    .await
}

async fn count(w: &World, sql: &str, bind: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query(sql)
        .bind(bind.to_string())
        .fetch_one(&w.db().await?)
        .await?
        .get(0))
}

const ACCOUNTS_OF: &str = "SELECT COUNT(*) FROM email_credential WHERE email = $1";

async fn new_passwords_from_a_breach_are_refused(w: Arc<World>) -> TestResult {
    let corpus = Corpus::start(false).await?;
    let gw = gateway(&w, corpus.settings(2000, false)).await?;
    // Sign-up: refused in every spelling that normalises to the leaked one (NFKC: the
    // full-width letters), and nothing is written or sent.
    let email = unique_email("leak");
    for spelled in [BREACHED, "Ｐ@ssｗ0rd-from-a-leak"] {
        let r = gw
            .post("/v1/signup", json!({ "email": email, "password": spelled }))
            .await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "password_compromised"),
            "{spelled}: {r:?}"
        );
    }
    assert_eq!(count(&w, ACCOUNTS_OF, &email).await?, 0);
    assert!(w.mail.to(&email).is_empty());
    gw.signup_confirmed(&w.mail, &email, CLEAN).await?;

    // A password change and a recovery refuse it too; the recovery code still works after.
    let set = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": CLEAN }),
        )
        .await?;
    let token = set.str("access_token");
    let r = gw
        .post_auth(
            "/v1/me/password",
            json!({ "current_password": CLEAN, "new_password": BREACHED }),
            &token,
        )
        .await?;
    assert_eq!(r.code(), "password_compromised", "{r:?}");
    gw.post("/v1/recovery", json!({ "email": email })).await?;
    let code = w.mail.wait_code(&email, "recovery code").await?;
    let r = gw
        .post(
            "/v1/recovery/confirm",
            json!({ "email": email, "code": code, "new_password": BREACHED }),
        )
        .await?;
    assert_eq!(r.code(), "password_compromised", "{r:?}");
    let r = gw
        .post(
            "/v1/recovery/confirm",
            json!({ "email": email, "code": code, "new_password": "a brand new passphrase" }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    gw.stop().await?;
    Ok(())
}

async fn sign_ins_with_a_breached_password_are_told_or_blocked(w: Arc<World>) -> TestResult {
    let corpus = Corpus::start(false).await?;
    let gw = gateway(&w, corpus.settings(2000, false)).await?;
    let email = unique_email("told");
    let leaked = "a passphrase that leaked later";
    gw.signup_confirmed(&w.mail, &email, leaked).await?;
    corpus.add(leaked)?;
    let sign_in = |password: &'static str| {
        let (gw, email) = (&gw, &email);
        async move {
            gw.post(
                "/v1/sessions/password",
                json!({ "email": email, "password": password }),
            )
            .await
        }
    };

    // `notify` (the default): signed in, told once for this password.
    for _ in 0..2 {
        let r = sign_in(leaked).await?;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
    }
    w.mail.wait(&email, "appeared in a data breach").await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let told = w
        .mail
        .to(&email)
        .iter()
        .filter(|m| m.subject().contains("data breach"))
        .count();
    assert_eq!(told, 1);
    let audited = "SELECT COUNT(*) FROM audit_event a JOIN email_credential e \
        ON e.account_id = a.account_id WHERE e.email = $1 AND a.kind = 'password_compromised'";
    assert_eq!(count(&w, audited, &email).await?, 1);

    // `block`: a wrong password learns nothing; the right one is refused until recovery.
    let r = admin(
        &gw,
        Method::PATCH,
        "/pools/main",
        Some(json!({ "compromised_passwords": "block" })),
        ADMIN,
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = sign_in("not the password at all").await?;
    assert_eq!(r.code(), "invalid_credentials");
    let r = sign_in(leaked).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "password_reset_required"),
        "{r:?}"
    );
    assert!(r.body.get("access_token").is_none());
    let blocked = "SELECT COUNT(*) FROM audit_event a JOIN email_credential e \
        ON e.account_id = a.account_id WHERE e.email = $1 AND a.kind = 'sign_in_failed' \
        AND a.detail LIKE '%compromised%'";
    assert_eq!(count(&w, blocked, &email).await?, 1);
    gw.post("/v1/recovery", json!({ "email": email })).await?;
    let code = w.mail.wait_code(&email, "recovery code").await?;
    let r = gw
        .post(
            "/v1/recovery/confirm",
            json!({ "email": email, "code": code, "new_password": CLEAN }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = sign_in(CLEAN).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    gw.stop().await?;
    Ok(())
}

async fn an_unreachable_corpus_fails_as_the_operator_chose(w: Arc<World>) -> TestResult {
    // A corpus that accepts and never answers: each check gives up after its timeout.
    let hanging = Corpus::start(true).await?;
    let open = gateway(&w, hanging.settings(300, false)).await?;
    let email = unique_email("open");
    let started = std::time::Instant::now();
    open.signup_confirmed(&w.mail, &email, BREACHED).await?;
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    let r = open
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": BREACHED }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "fail open: unchecked, {r:?}");
    open.stop().await?;

    let closed = gateway(&w, hanging.settings(300, true)).await?;
    let other = unique_email("closed");
    let r = closed
        .post("/v1/signup", json!({ "email": other, "password": CLEAN }))
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        "{r:?}"
    );
    assert_eq!(count(&w, ACCOUNTS_OF, &other).await?, 0);
    let r = closed
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": BREACHED }),
        )
        .await?;
    assert_eq!(r.code(), "unavailable", "{r:?}");
    closed.stop().await?;

    // A corpus that is down (nothing listens): the same, at once.
    let down = Corpus::start(false).await?;
    let settings = down.settings(2000, true);
    drop(down);
    let closed = gateway(&w, settings).await?;
    let r = closed
        .post("/v1/signup", json!({ "email": other, "password": CLEAN }))
        .await?;
    assert_eq!(r.code(), "unavailable", "{r:?}");
    closed.stop().await?;
    Ok(())
}
