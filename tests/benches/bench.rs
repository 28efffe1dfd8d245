//! Benchmarks (not timed tests): password sign-in and refresh through the real gateway over
//! HTTP, on SQLite and (when `GATEHOUSE_TEST_DATABASE_URL` and `GATEHOUSE_TEST_REDIS_URL`
//! are set) on PostgreSQL and Redis, beside the cost floor measured in the same run: one
//! argon2id hash, one ES256 signature, one database round trip.
//!
//! Run: `cargo bench -p gatehouse-tests` (see the README).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use accounts::password::PasswordHasher;
use accounts::secret::Secret;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use gatehouse_tests::siwe_key::{SiweKey, eip191};
use gatehouse_tests::{Backend, Gateway, MailSink, World, unique_email};
use serde_json::json;
use std::time::{Duration, Instant};

/// A documentation-range address (RFC 5737) standing for simulated client `n`; it is only
/// a header value, nothing is sent there.
fn client_addr(n: u32) -> String {
    format!("198.51.100.{}", n % 250)
}

const PW: &str = "correct horse battery";

struct Stats {
    p50: Duration,
    p99: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        p50: at(0.5),
        p99: at(0.99),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

async fn floor_argon2() -> Duration {
    let h = PasswordHasher::new(1).unwrap();
    let pw = Secret::new(PW);
    let mut samples = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        h.hash(&pw).await.unwrap();
        samples.push(t.elapsed());
    }
    stats(samples).p50
}

fn floor_es256() -> Duration {
    let rng = SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
    let msg = vec![b'x'; 700];
    let mut samples = Vec::new();
    for _ in 0..3000 {
        let t = Instant::now();
        std::hint::black_box(key.sign(&rng, &msg).unwrap());
        samples.push(t.elapsed());
    }
    stats(samples).p50
}

/// An HTTP round trip to the same gateway that does nothing (`/healthz`): what the client,
/// loopback and routing cost before the gateway does any work.
async fn floor_http(gw: &Gateway) -> Duration {
    let url = format!("{}/healthz", gw.base);
    let mut samples = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        let r = gw.http.get(&url).send().await.unwrap();
        r.bytes().await.unwrap();
        samples.push(t.elapsed());
    }
    stats(samples).p50
}

/// One public-key recovery with libsecp256k1, the fastest known (an absolute floor, not our
/// own path); k256 0.13's, which the gateway used before, is printed beside it.
fn floor_ecrecover() -> (Duration, Duration) {
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    let key = k256::ecdsa::SigningKey::from_slice(&accounts::secret::random_bytes::<32>()).unwrap();
    let hash = eip191("a message of about the size of a SIWE message");
    let (sig, recid) = key.sign_prehash_recoverable(&hash).unwrap();
    let secp = secp256k1::Secp256k1::verification_only();
    let rs = RecoverableSignature::from_compact(
        &sig.to_bytes(),
        RecoveryId::try_from(i32::from(recid.to_byte())).unwrap(),
    )
    .unwrap();
    let msg = secp256k1::Message::from_digest(hash);
    let (mut fast, mut k256) = (Vec::new(), Vec::new());
    for _ in 0..2000 {
        let t = Instant::now();
        std::hint::black_box(secp.recover_ecdsa(&msg, &rs).unwrap());
        fast.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(
            k256::ecdsa::VerifyingKey::recover_from_prehash(&hash, &sig, recid).unwrap(),
        );
        k256.push(t.elapsed());
    }
    (stats(fast).p50, stats(k256).p50)
}

async fn floor_db(gw: &Gateway) -> Duration {
    let mut samples = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        gw.state.store.ping().await.unwrap();
        samples.push(t.elapsed());
    }
    stats(samples).p50
}

async fn bench_backend(
    backend: &Backend,
    mail: &MailSink,
    es256: Duration,
    ecrecover: Duration,
) -> anyhow::Result<()> {
    let world = World::new(backend, mail.clone()).await?;
    // Behind a (pretend) load balancer, so each simulated client has its own address and the
    // per-address limits meter clients, not the benchmark.
    let gw = world.start_with(|c| c.trust_proxy = true).await?;
    let rtt = floor_db(&gw).await;
    let http = floor_http(&gw).await;
    let name = backend.name();
    println!(
        "\n[{name}] database round trip p50 {} | HTTP round trip (/healthz) p50 {}",
        ms(rtt),
        ms(http)
    );

    let emails: Vec<String> = (0..4).map(|i| unique_email(&format!("bench{i}"))).collect();
    for e in &emails {
        gw.signup_confirmed(mail, e, PW).await?;
    }
    bench_recovery_timing(&gw, mail, name).await?;

    // Password sign-in, beside an argon2id hash measured just before (this machine's speed
    // drifts between runs, so the floor is taken next to what it is compared with).
    // Interleaved with one argon2id hash before each sign-in, so drift in this machine's
    // speed hits the floor and the measurement alike.
    let hasher = PasswordHasher::new(1).unwrap();
    let pw = Secret::new(PW);
    let email = &emails[0];
    let url = format!("{}/v1/sessions/password", gw.api);
    let mut lat = Vec::new();
    let mut floor = Vec::new();
    for i in 0..60u32 {
        let t = Instant::now();
        hasher.hash(&pw).await.unwrap();
        floor.push(t.elapsed());
        let t = Instant::now();
        let r = gw
            .http
            .post(&url)
            .header("x-forwarded-for", client_addr(i))
            .json(&json!({ "email": email, "password": PW }))
            .send()
            .await
            .unwrap();
        lat.push(t.elapsed());
        assert_eq!(r.status(), 200);
    }
    let argon2 = stats(floor).p50;
    let s = stats(lat);
    let concurrency = 2;
    let per = 30;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let http = gw.http.clone();
        let url = format!("{}/v1/sessions/password", gw.api);
        let email = emails[c + 1].clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                let r = http
                    .post(&url)
                    .header(
                        "x-forwarded-for",
                        client_addr(100 * (c as u32 + 1) + i as u32),
                    )
                    .json(&json!({ "email": email, "password": PW }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let tput = (concurrency * per) as f64 / t.elapsed().as_secs_f64();
    println!(
        "[{name}] password sign-in: p50 {} p99 {} | {tput:.1}/s with {concurrency} clients | argon2id hash p50 {} | p50 / argon2id hash = {:.3}",
        ms(s.p50),
        ms(s.p99),
        ms(argon2),
        s.p50.as_secs_f64() / argon2.as_secs_f64()
    );

    // Refresh: a chain of rotations (each uses the successor).
    let set = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?
        .body;
    let mut token = set["refresh_token"].as_str().unwrap().to_string();
    let mut samples = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        let r = gw
            .post("/v1/sessions/refresh", json!({ "refresh_token": token }))
            .await?;
        samples.push(t.elapsed());
        assert_eq!(r.status, 200);
        token = r.str("refresh_token");
    }
    let s = stats(samples);
    let t = Instant::now();
    let mut tasks = Vec::new();
    let per = 250;
    for _ in 0..concurrency {
        let set = gw
            .post(
                "/v1/sessions/password",
                json!({ "email": email, "password": PW }),
            )
            .await?
            .body;
        let http = gw.http.clone();
        let url = format!("{}/v1/sessions/refresh", gw.api);
        let mut token = set["refresh_token"].as_str().unwrap().to_string();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                let r: serde_json::Value = http
                    .post(&url)
                    .json(&json!({ "refresh_token": token }))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                token = r["refresh_token"].as_str().unwrap().to_string();
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let tput = (concurrency * per) as f64 / t.elapsed().as_secs_f64();
    // A refresh signs two tokens and makes 7 database round trips (BEGIN, mark used, read,
    // insert successor, touch session, COMMIT; read the account).
    // The gateway's own cost is the latency less an HTTP round trip that does nothing.
    let floor = 2 * es256 + 7 * rtt;
    let gateway = s.p50.saturating_sub(http);
    println!(
        "[{name}] refresh: p50 {} p99 {} | {tput:.1}/s with {concurrency} clients | gateway cost (p50 - HTTP) {} | floor (2 signatures + 7 round trips) {} | gateway cost / floor = {:.2}",
        ms(s.p50),
        ms(s.p99),
        ms(gateway),
        ms(floor),
        gateway.as_secs_f64() / floor.as_secs_f64()
    );
    // SIWE sign-in of a known wallet: a nonce and a signed message per sign-in, only the
    // sign-in request timed.
    let bench_wallet = SiweKey::new();
    let mut samples = Vec::new();
    for i in 0..300u32 {
        let n: serde_json::Value = gw
            .http
            .post(format!("{}/v1/siwe/nonce", gw.api))
            .header("x-forwarded-for", client_addr(i))
            .send()
            .await?
            .json()
            .await?;
        let nonce = n["nonce"].as_str().unwrap().to_string();
        let body = bench_wallet.sign_in_body("gatehouse.test", &nonce);
        let t = Instant::now();
        let r = gw
            .http
            .post(format!("{}/v1/sessions/siwe", gw.api))
            .header("x-forwarded-for", client_addr(i))
            .json(&body)
            .send()
            .await?;
        samples.push(t.elapsed());
        assert_eq!(r.status(), 200, "{}", r.text().await?);
    }
    let s = stats(samples);
    // One ecrecover, two signatures, and 10 round trips (nonce GETDEL, rate limit, account
    // and wallets, the session transaction of 6 statements).
    let floor = ecrecover + 2 * es256 + 10 * rtt;
    let gateway = s.p50.saturating_sub(http);
    println!(
        "[{name}] SIWE sign-in: p50 {} p99 {} | gateway cost (p50 - HTTP) {} | floor (ecrecover + 2 signatures + 10 round trips) {} | gateway cost / floor = {:.2}",
        ms(s.p50),
        ms(s.p99),
        ms(gateway),
        ms(floor),
        gateway.as_secs_f64() / floor.as_secs_f64()
    );

    bench_code_flow(&gw, backend, email, es256, rtt, http).await?;

    if *backend == Backend::Sqlite {
        bench_validation(&gw, set["access_token"].as_str().unwrap()).await?;
    }
    gw.stop().await?;
    world.cleanup().await?;
    Ok(())
}

/// The OAuth authorization code flow of a signed-in browser (single sign-on): the
/// authorization request answered with a code, then the code exchanged at the token endpoint
/// by a confidential client. The exchange is timed beside its floor.
async fn bench_code_flow(
    gw: &Gateway,
    backend: &Backend,
    email: &str,
    es256: Duration,
    rtt: Duration,
    http: Duration,
) -> anyhow::Result<()> {
    let name = backend.name();
    let now = gw.clock.now();
    let pool = gw.state.pools.get("main", now).await?.unwrap();
    let callback = "http://127.0.0.1:9/callback";
    let new = accounts::clients::NewClient {
        name: "bench".into(),
        redirect_uris: vec![callback.into()],
        ..Default::default()
    };
    let (client, secret) = gw
        .state
        .users
        .create_client(&pool, new, &accounts::Actor::Root, now)
        .await?;
    let secret = secret.unwrap();
    // A browser session: the session of a password sign-in, named by the signed cookie.
    let set = gw
        .post(
            "/v1/sessions/password",
            json!({ "email": email, "password": PW }),
        )
        .await?
        .body;
    let access = set["access_token"].as_str().unwrap();
    let payload = access.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        payload,
    )?)?;
    let sid = claims["sid"].as_str().unwrap();
    let cookie = format!(
        "gh_session_main={sid}.{}",
        gw.state.users.mac("browser-session", sid)
    );
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let authorize = format!(
        "{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri={callback}&scope=openid%20email&state=s&nonce=n&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        gw.api, client.id
    );
    let (mut auth_lat, mut token_lat) = (Vec::new(), Vec::new());
    for _ in 0..300 {
        let t = Instant::now();
        let r = gw
            .http
            .get(&authorize)
            .header("cookie", &cookie)
            .send()
            .await?;
        auth_lat.push(t.elapsed());
        let location = r.headers()["location"].to_str()?.to_string();
        let code = url::Url::parse(&location)?
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let t = Instant::now();
        let r = gw
            .http
            .post(format!("{}/oauth2/token", gw.api))
            .basic_auth(&client.id, Some(secret.expose()))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", callback),
                ("code_verifier", verifier),
            ])
            .send()
            .await?;
        token_lat.push(t.elapsed());
        assert_eq!(r.status(), 200, "{}", r.text().await?);
    }
    let a = stats(auth_lat);
    let s = stats(token_lat);
    // The exchange: two signatures; 9 database round trips (the client, the browser session,
    // the account and its wallets, the session transaction of 5 statements) and, in Redis,
    // 4 ephemeral ones (read the code, claim it, delete it, look for a replay).
    let trips = if *backend == Backend::Sqlite { 9 } else { 13 };
    let floor = 2 * es256 + trips * rtt;
    let gateway = s.p50.saturating_sub(http);
    println!(
        "[{name}] OAuth (single sign-on): authorize p50 {} p99 {} | code exchange p50 {} p99 {} | gateway cost (p50 - HTTP) {} | floor (2 signatures + {trips} round trips) {} | gateway cost / floor = {:.2}",
        ms(a.p50),
        ms(a.p99),
        ms(s.p50),
        ms(s.p99),
        ms(gateway),
        ms(floor),
        gateway.as_secs_f64() / floor.as_secs_f64()
    );
    Ok(())
}

/// Token validation on one core with a warm cache: `gatehouse-verify` against a bare
/// `jsonwebtoken` decode of the same token with the same checks.
async fn bench_validation(gw: &Gateway, token: &str) -> anyhow::Result<()> {
    let jwks_uri = format!("{}/.well-known/jwks.json", gw.api);
    let jwks: jsonwebtoken::jwk::JwkSet = gw.http.get(&jwks_uri).send().await?.json().await?;
    let kid = jsonwebtoken::decode_header(token)?.kid.unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(&kid).unwrap())?;
    let issuer = gw.issuer.clone();
    let token = token.to_string();
    let verifier = gatehouse_verify::Verifier::builder(&issuer)
        .audience(&issuer)
        .jwks_uri(jwks_uri)
        .build()
        .await?;
    // One core: a current-thread runtime on its own OS thread.
    let (crate_rate, bare_rate) = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let n = 20_000;
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
            validation.set_issuer(&[&issuer]);
            validation.set_audience(&[&issuer]);
            validation.leeway = 60;
            let mut crate_best = 0f64;
            let mut bare_best = 0f64;
            // Alternate rounds so drift in the machine's speed hits both alike.
            for _ in 0..5 {
                let t = Instant::now();
                for _ in 0..n {
                    std::hint::black_box(verifier.verify_access_token(&token).await.unwrap());
                }
                crate_best = crate_best.max(n as f64 / t.elapsed().as_secs_f64());
                let t = Instant::now();
                for _ in 0..n {
                    std::hint::black_box(
                        jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation)
                            .unwrap(),
                    );
                }
                bare_best = bare_best.max(n as f64 / t.elapsed().as_secs_f64());
            }
            (crate_best, bare_best)
        })
    })
    .join()
    .unwrap();
    println!(
        "[validation] one core, warm cache: gatehouse-verify {crate_rate:.0}/s | bare jsonwebtoken {bare_rate:.0}/s | ratio {:.2}",
        crate_rate / bare_rate
    );
    Ok(())
}

/// DESIGN rule 5: `/v1/recovery` must not tell by its timing whether an address has an
/// account. 30 verified addresses and 30 unknown ones (each asked once: the mail budget is
/// per address), interleaved; medians, their ratio, and a two-sided Mann-Whitney U test.
async fn bench_recovery_timing(gw: &Gateway, mail: &MailSink, name: &str) -> anyhow::Result<()> {
    const N: usize = 30;
    let known: Vec<String> = (0..N).map(|i| unique_email(&format!("rk{i}"))).collect();
    // Each from its own (pretend) client address: the mail budget is per address.
    for (i, e) in known.iter().enumerate() {
        let from = client_addr(2000 + i as u32);
        for (path, body) in [
            ("/v1/signup", json!({ "email": e, "password": PW })),
            ("/v1/signup/confirm", json!({})),
        ] {
            let body = if path.ends_with("confirm") {
                let code = mail.wait_code(e, "sign-up code").await?;
                json!({ "email": e, "code": code, "password": PW })
            } else {
                body
            };
            let r = gw
                .http
                .post(format!("{}{path}", gw.api))
                .header("x-forwarded-for", &from)
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
        }
    }
    let url = format!("{}/v1/recovery", gw.api);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (i, k) in known.iter().enumerate() {
        for (addr, out) in [(k.clone(), &mut a), (unique_email("ru"), &mut b)] {
            let t = Instant::now();
            let r = gw
                .http
                .post(&url)
                .header("x-forwarded-for", client_addr(1000 + i as u32))
                .json(&json!({ "email": addr }))
                .send()
                .await?;
            anyhow::ensure!(r.status() == 202, "recovery: {}", r.status());
            out.push(t.elapsed());
        }
    }
    let p = mann_whitney_p(&a, &b);
    let (ka, kb) = (stats(a).p50, stats(b).p50);
    println!(
        "[{name}] recovery request p50: verified address {} | unknown address {} | ratio {:.2} | Mann-Whitney p {:.2}",
        ms(ka),
        ms(kb),
        ka.as_secs_f64() / kb.as_secs_f64(),
        p
    );
    Ok(())
}

/// Two-sided p-value of the Mann-Whitney U test (normal approximation, no tie correction).
fn mann_whitney_p(a: &[Duration], b: &[Duration]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let u: f64 = a
        .iter()
        .map(|x| {
            b.iter()
                .map(|y| match x.cmp(y) {
                    std::cmp::Ordering::Greater => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Less => 0.0,
                })
                .sum::<f64>()
        })
        .sum();
    let mean = n1 * n2 / 2.0;
    let sd = (n1 * n2 * (n1 + n2 + 1.0) / 12.0).sqrt();
    let z = ((u - mean).abs() - 0.5).max(0.0) / sd;
    // erfc by Abramowitz-Stegun 7.1.26.
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    poly * (-x * x).exp()
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass nothing else useful.
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let argon2 = floor_argon2().await;
        let es256 = floor_es256();
        let (ecrecover, k256_recover) = floor_ecrecover();
        println!(
            "cost floor: argon2id hash (m=19456, t=2, p=1) p50 {} | ES256 signature p50 {:.1} µs | ecrecover (libsecp256k1) p50 {:.1} µs (k256 0.13: {:.1} µs)",
            ms(argon2),
            es256.as_secs_f64() * 1e6,
            ecrecover.as_secs_f64() * 1e6,
            k256_recover.as_secs_f64() * 1e6
        );
        let mail = MailSink::start()?;
        for backend in Backend::all()? {
            bench_backend(&backend, &mail, es256, ecrecover).await?;
        }
        Ok(())
    })
}
