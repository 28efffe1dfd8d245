//! Sign-up, confirmation, resend, the password policy and input handling.

use gatehouse_tests::{World, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Row;
use std::sync::Arc;

use crate::TestResult;

crate::tests!(
    signup_confirm_then_sign_in,
    existing_email_answers_alike_and_notifies_owner,
    password_policy,
    bad_input_is_a_problem_and_writes_nothing,
    code_dies_after_five_wrong_tries,
    code_expires_after_ten_minutes,
    resend_sends_another_code,
);

const PW: &str = "correct horse battery";

async fn signup_confirm_then_sign_in(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let db = w.db().await?;
    let email = unique_email("Ada");
    let r = gw.post("/v1/signup", json!({ "email": format!("  {email} "), "password": PW, "attributes": { "name": "Ada" } })).await?;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");

    // Stored: a pending account, an unverified email, no password yet: the argon2id hash
    // waits in the code row until the code is confirmed.
    let row = sqlx::query(
        "SELECT a.id, a.status, e.email, e.verified_at, c.payload AS hash FROM account a \
         JOIN email_credential e ON e.account_id = a.id JOIN verification_code c ON c.account_id = a.id \
         WHERE e.email_normalized = $1",
    )
    .bind(email.to_lowercase())
    .fetch_one(&db)
    .await?;
    let account: String = row.get("id");
    assert_eq!(row.get::<String, _>("status"), "pending");
    assert_eq!(row.get::<String, _>("email"), email, "stored trimmed");
    assert_eq!(row.get::<Option<i64>, _>("verified_at"), None);
    assert!(
        row.get::<String, _>("hash")
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
    );

    let passwords: i64 = sqlx::query("SELECT COUNT(*) FROM password_credential")
        .fetch_one(&db)
        .await?
        .get(0);
    assert_eq!(passwords, 0);
    let code = w.mail.wait_code(&email, "sign-up code").await?;
    let stored: String = sqlx::query(
        "SELECT code_hash FROM verification_code WHERE account_id = $1 AND purpose = 'signup'",
    )
    .bind(&account)
    .fetch_one(&db)
    .await?
    .get(0);
    assert!(
        !stored.contains(&code) && stored.len() == 64,
        "the code is stored as a keyed hash"
    );

    // Not confirmed yet: the password does not work, and says nothing more than a wrong one.
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );

    let wrong = if code == "000000" { "000001" } else { "000000" };
    let r = gw
        .post(
            "/v1/signup/confirm",
            json!({ "email": email, "code": wrong, "password": PW }),
        )
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "code_invalid")
    );
    let attempts: i32 = sqlx::query("SELECT attempts FROM verification_code WHERE account_id = $1")
        .bind(&account)
        .fetch_one(&db)
        .await?
        .get(0);
    assert_eq!(attempts, 1);

    let r = gw
        .post(
            "/v1/signup/confirm",
            json!({ "email": email.to_uppercase(), "code": code, "password": PW }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let row = sqlx::query("SELECT a.status, e.verified_at FROM account a JOIN email_credential e ON e.account_id = a.id WHERE a.id = $1")
        .bind(&account)
        .fetch_one(&db)
        .await?;
    assert_eq!(row.get::<String, _>("status"), "active");
    assert!(row.get::<Option<i64>, _>("verified_at").is_some());
    let codes: i64 = sqlx::query("SELECT COUNT(*) FROM verification_code WHERE account_id = $1")
        .bind(&account)
        .fetch_one(&db)
        .await?
        .get(0);
    assert_eq!(codes, 0, "a used code is gone");

    // Single use.
    let r = gw
        .post(
            "/v1/signup/confirm",
            json!({ "email": email, "code": code, "password": PW }),
        )
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "code_invalid")
    );

    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let me = gw.get_auth("/v1/me", &r.str("access_token")).await?;
    assert_eq!(me.body["sub"], json!(account));
    assert_eq!(me.body["attributes"]["name"], "Ada");

    let kinds: Vec<String> =
        sqlx::query("SELECT kind FROM audit_event WHERE account_id = $1 ORDER BY id")
            .bind(&account)
            .fetch_all(&db)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
    assert_eq!(
        kinds,
        [
            "signup",
            "sign_in_failed",
            "code_rejected",
            "signup_confirmed",
            "sign_in"
        ]
    );
    gw.stop().await
}

async fn existing_email_answers_alike_and_notifies_owner(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let db = w.db().await?;
    let email = unique_email("owner");
    let fresh = gw
        .post("/v1/signup", json!({ "email": email, "password": PW }))
        .await?;
    let code = w.mail.wait_code(&email, "sign-up code").await?;
    gw.post(
        "/v1/signup/confirm",
        json!({ "email": email, "code": code, "password": PW }),
    )
    .await?;

    let again = gw
        .post("/v1/signup", json!({ "email": format!(" {} ", email.to_uppercase()), "password": "another fine phrase" }))
        .await?;
    assert_eq!(again.status, fresh.status);
    assert_eq!(
        again.body, fresh.body,
        "the answer does not tell the address exists"
    );
    let notice = w.mail.wait(&email, "tried to sign up").await?;
    assert!(
        notice.code().is_none(),
        "the owner gets a notice, not a code"
    );
    assert_eq!(
        w.mail
            .to(&email)
            .iter()
            .filter(|m| m.subject().contains("sign-up code"))
            .count(),
        1
    );

    let accounts: i64 =
        sqlx::query("SELECT COUNT(*) FROM email_credential WHERE email_normalized = $1")
            .bind(email.to_lowercase())
            .fetch_one(&db)
            .await?
            .get(0);
    assert_eq!(accounts, 1);
    // The password was not replaced.
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": "another fine phrase" }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK);

    // Someone signs up first with an address they do not own; its owner signs up later and
    // confirms the code of their own sign-up: the password is the owner's, and the
    // stranger's code and password are dead.
    let squatted = unique_email("squatted");
    gw.post(
        "/v1/signup",
        json!({ "email": squatted, "password": "attacker chosen phrase" }),
    )
    .await?;
    let stranger_code = w.mail.wait_code(&squatted, "sign-up code").await?;
    let r = gw
        .post("/v1/signup", json!({ "email": squatted, "password": PW }))
        .await?;
    assert_eq!(r.body, fresh.body);
    let owner_code = w
        .mail
        .wait_nth(&squatted, "sign-up code", 2)
        .await?
        .code()
        .unwrap();
    let r = gw
        .post(
            "/v1/signup/confirm",
            json!({ "email": squatted, "code": owner_code, "password": PW }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": squatted, "password": "attacker chosen phrase" }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": squatted, "password": PW }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    if stranger_code != owner_code {
        let r = gw
            .post(
                "/v1/signup/confirm",
                json!({ "email": squatted, "code": stranger_code, "password": PW }),
            )
            .await?;
        assert_eq!(r.code(), "code_invalid");
    }
    let live: i64 = sqlx::query("SELECT COUNT(*) FROM verification_code")
        .fetch_one(&db)
        .await?
        .get(0);
    assert_eq!(live, 0, "confirming one sign-up code kills the others");
    gw.stop().await
}

async fn password_policy(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let db = w.db().await?;
    let email = unique_email("policy");
    let local = email.split('@').next().unwrap().to_string();
    for (password, why) in [
        ("short".to_string(), "too short"),
        ("qwertyuiop".to_string(), "common"),
        ("Iloveyou1".to_string(), "common, any case"),
        (local.clone(), "the local part"),
        ("x".repeat(257), "too long"),
    ] {
        let r = gw
            .post(
                "/v1/signup",
                json!({ "email": email, "password": password }),
            )
            .await?;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "password_policy"),
            "{why}: {r:?}"
        );
        assert_eq!(r.header("content-type"), "application/problem+json");
    }
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM account")
        .fetch_one(&db)
        .await?
        .get(0);
    assert_eq!(n, 0, "refused sign-ups write nothing");

    // 256 characters and no composition rules are fine; nothing is truncated.
    let long = "y".repeat(256);
    gw.signup_confirmed(&w.mail, &email, &long).await?;
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": "y".repeat(255) }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": long }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK);

    // NFKC: a fullwidth spelling is the same password.
    let email2 = unique_email("nfkc");
    gw.signup_confirmed(&w.mail, &email2, "ｐａｓｓｐｈｒａｓｅ ９")
        .await?;
    let r = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email2, "password": "passphrase 9" }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    gw.stop().await
}

async fn bad_input_is_a_problem_and_writes_nothing(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let db = w.db().await?;
    let url = format!("{}/v1/signup", gw.api);
    let send = |body: String, ct: Option<&'static str>| {
        let mut req = gw.http.post(&url).body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    let cases: Vec<(String, Option<&str>, StatusCode, &str)> = vec![
        (
            "{not json".into(),
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            r#"{"email":"a@example.com"}"#.into(),
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            r#"{"email":5,"password":"x"}"#.into(),
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            r#"{"email":"a@example.com","password":"long enough pw","admin":true}"#.into(),
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            r#"{"email":"a@example.com","password":"long enough pw"}"#.into(),
            None,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            r#"{"email":"a@example.com","password":"long enough pw"}"#.into(),
            Some("text/plain"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            format!(
                r#"{{"email":"a@example.com","password":"{}"}}"#,
                "z".repeat(70_000)
            ),
            Some("application/json"),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            r#"{"email":"not-an-email","password":"long enough pw"}"#.into(),
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "invalid_email",
        ),
        (
            r#"{"email":"b@example.com","password":"long enough pw","attributes":{"email":"x"}}"#
                .into(),
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "invalid_attributes",
        ),
    ];
    for (body, ct, status, code) in cases {
        let res = send(body.clone(), ct).await?;
        assert_eq!(res.status(), status, "{body:.80}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let v: serde_json::Value = res.json().await?;
        assert_eq!(v["code"], code, "{body:.80}");
        assert_eq!(v["status"], status.as_u16());
    }
    let r = gw.call(Method::GET, "/v1/signup", None, None).await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    for table in ["account", "email_credential", "mail_outbox", "audit_event"] {
        let n: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&db)
            .await?
            .get(0);
        assert_eq!(n, 0, "{table}");
    }
    gw.stop().await
}

async fn code_dies_after_five_wrong_tries(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("tries");
    gw.post("/v1/signup", json!({ "email": email, "password": PW }))
        .await?;
    let code = w.mail.wait_code(&email, "sign-up code").await?;
    let wrong = format!("{:06}", (code.parse::<u32>()? + 1) % 1_000_000);
    for _ in 0..5 {
        let r = gw
            .post(
                "/v1/signup/confirm",
                json!({ "email": email, "code": wrong, "password": PW }),
            )
            .await?;
        assert_eq!(r.code(), "code_invalid");
    }
    let r = gw
        .post(
            "/v1/signup/confirm",
            json!({ "email": email, "code": code, "password": PW }),
        )
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "code_invalid"),
        "dead after five wrong tries"
    );
    let r = gw
        .post("/v1/signup/resend", json!({ "email": email }))
        .await?;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let fresh = w
        .mail
        .wait_nth(&email, "sign-up code", 2)
        .await?
        .code()
        .unwrap();
    let r = gw
        .post(
            "/v1/signup/confirm",
            json!({ "email": email, "code": fresh, "password": PW }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    gw.stop().await
}

async fn code_expires_after_ten_minutes(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("expiry");
    gw.post("/v1/signup", json!({ "email": email, "password": PW }))
        .await?;
    let code = w.mail.wait_code(&email, "sign-up code").await?;
    gw.clock.advance(601);
    let r = gw
        .post(
            "/v1/signup/confirm",
            json!({ "email": email, "code": code, "password": PW }),
        )
        .await?;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "code_invalid")
    );
    gw.stop().await
}

async fn resend_sends_another_code(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("resend");
    gw.post("/v1/signup", json!({ "email": email, "password": PW }))
        .await?;
    let first = w.mail.wait_code(&email, "sign-up code").await?;
    let r = gw
        .post("/v1/signup/resend", json!({ "email": email }))
        .await?;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let second = w
        .mail
        .wait_nth(&email, "sign-up code", 2)
        .await?
        .code()
        .unwrap();
    // Sign-up codes accumulate (each bound to its sign-up's password): the first still
    // works, and once one is used the others die.
    let r = gw
        .post(
            "/v1/signup/confirm",
            json!({ "email": email, "code": first, "password": PW }),
        )
        .await?;
    assert_eq!(r.status, StatusCode::OK);
    if first != second {
        let r = gw
            .post(
                "/v1/signup/confirm",
                json!({ "email": email, "code": second, "password": PW }),
            )
            .await?;
        assert_eq!(r.code(), "code_invalid");
    }
    assert_eq!(
        gw.post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW })
        )
        .await?
        .status,
        StatusCode::OK
    );

    // Unknown and confirmed addresses: the same answer, and no mail queued.
    let unknown = unique_email("nobody");
    let r2 = gw
        .post("/v1/signup/resend", json!({ "email": unknown }))
        .await?;
    assert_eq!(r2.status, StatusCode::ACCEPTED);
    let r3 = gw
        .post("/v1/signup/resend", json!({ "email": email }))
        .await?;
    assert_eq!((r3.status, &r3.body), (r2.status, &r2.body));
    let db = w.db().await?;
    let queued: i64 =
        sqlx::query("SELECT COUNT(*) FROM mail_outbox WHERE recipient = $1 OR recipient = $2")
            .bind(&unknown)
            .bind(&email)
            .fetch_one(&db)
            .await?
            .get(0);
    assert_eq!(queued, 2, "only the two sign-up codes");
    gw.stop().await
}
