//! `/metrics`: the scrape is read with the Prometheus project's own Python parser
//! (`prometheus_client.parser.text_string_to_metric_families`, through
//! `tests/clients/metrics.py`), never with our own; sign-ins move their counters by exactly
//! the sign-ins made, labels are route templates and pool names (no email, address or raw
//! path), histograms are well-formed, and `GATEHOUSE_METRICS_TOKEN` guards the endpoint.

use accounts::secret::Secret;
use gatehouse_tests::{Gateway, World, clients_dir, unique_email};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

use crate::TestResult;

crate::tests!(
    sign_ins_are_counted_by_pool_method_and_result,
    a_metrics_token_guards_the_scrape,
);

const PW: &str = "correct horse battery";
const PASSWORD_ROUTE: &str = "/pools/{pool}/v1/sessions/password";
const SIWE_ROUTE: &str = "/pools/{pool}/v1/sessions/siwe";

/// A metric family as the Python parser read it.
#[derive(Debug, Deserialize)]
struct Family {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    samples: Vec<Sample>,
}

/// One sample: its name, labels and value (non-finite values come as text: `inf`, `nan`).
#[derive(Debug, Deserialize)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: Value,
}

impl Sample {
    fn value(&self) -> f64 {
        match &self.value {
            Value::String(s) if s == "inf" => f64::INFINITY,
            v => v.as_f64().unwrap_or(f64::NAN),
        }
    }
}

/// A scrape: the text and what the parser made of it.
struct Scrape {
    text: String,
    families: Vec<Family>,
}

impl Scrape {
    fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.families.iter().flat_map(|f| &f.samples)
    }

    /// The value of the sample `name` with exactly `labels`; 0 when it is not there (a
    /// series appears with its first increment).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let found: Vec<f64> = self
            .samples()
            .filter(|s| s.name == name && s.labels == want)
            .map(Sample::value)
            .collect();
        assert!(found.len() <= 1, "{name} {labels:?} twice: {found:?}");
        found.first().copied().unwrap_or(0.0)
    }

    /// The label sets of the samples named `name`.
    fn label_sets(&self, name: &str) -> BTreeSet<BTreeMap<String, String>> {
        self.samples()
            .filter(|s| s.name == name)
            .map(|s| s.labels.clone())
            .collect()
    }
}

/// `GET /metrics` (with `token` as a bearer), checked as Prometheus text format 0.0.4 and
/// parsed by the reference parser.
async fn scrape(gw: &Gateway, token: Option<&str>) -> anyhow::Result<Scrape> {
    let mut req = gw.http.get(format!("{}/metrics", gw.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await?;
    anyhow::ensure!(res.status() == StatusCode::OK, "scrape: {}", res.status());
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    anyhow::ensure!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "content type {content_type:?}"
    );
    let text = res.text().await?;
    let families = parse(&text).await?;
    Ok(Scrape { text, families })
}

/// The families of an exposition, as `prometheus_client`'s parser reads them.
async fn parse(text: &str) -> anyhow::Result<Vec<Family>> {
    let dir = clients_dir()?;
    let mut child = tokio::process::Command::new(dir.join(".venv/bin/python"))
        .arg(dir.join("metrics.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes()).await?;
    }
    let out = child.wait_with_output().await?;
    anyhow::ensure!(
        out.status.success(),
        "the Prometheus parser refused the scrape: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Every histogram, per label set: buckets in increasing order of `le` ending at `+Inf`,
/// cumulative counts that never drop, the `+Inf` bucket equal to `_count`, a `_sum`.
fn check_histograms(s: &Scrape) -> usize {
    let mut checked = 0;
    for f in s.families.iter().filter(|f| f.kind == "histogram") {
        type Series = (Vec<(f64, f64)>, Option<f64>, Option<f64>);
        let mut series: BTreeMap<BTreeMap<String, String>, Series> = BTreeMap::new();
        for sample in &f.samples {
            let mut labels = sample.labels.clone();
            let le = labels.remove("le");
            let entry = series.entry(labels).or_default();
            match sample.name.strip_prefix(f.name.as_str()) {
                Some("_bucket") => {
                    let le = le.expect("a bucket has le");
                    let bound = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().expect("le is a number")
                    };
                    entry.0.push((bound, sample.value()));
                }
                Some("_count") => entry.1 = Some(sample.value()),
                Some("_sum") => entry.2 = Some(sample.value()),
                other => panic!("{}: unexpected sample {other:?}", f.name),
            }
        }
        for (labels, (buckets, count, sum)) in series {
            let what = format!("{} {labels:?}", f.name);
            assert!(buckets.len() >= 2, "{what}: {buckets:?}");
            assert!(
                buckets
                    .windows(2)
                    .all(|p| p[0].0 < p[1].0 && p[0].1 <= p[1].1),
                "{what}: bounds must rise and counts never drop: {buckets:?}"
            );
            let (last_bound, last_count) = buckets[buckets.len() - 1];
            assert_eq!(last_bound, f64::INFINITY, "{what}: ends at +Inf");
            assert_eq!(Some(last_count), count, "{what}: +Inf bucket is the count");
            let sum = sum.unwrap_or(f64::NAN);
            assert!(sum.is_finite() && sum >= 0.0, "{what}: sum {sum}");
            checked += 1;
        }
    }
    checked
}

async fn sign_in_password(gw: &Gateway, email: &str, password: &str) -> anyhow::Result<StatusCode> {
    let body = json!({ "email": email, "password": password });
    Ok(gw.post("/v1/sessions/password", body).await?.status)
}

async fn sign_ins_are_counted_by_pool_method_and_result(w: Arc<World>) -> TestResult {
    let gw = w.start().await?;
    let email = unique_email("metrics");
    let locked = unique_email("metrics-lock");
    gw.signup_confirmed(&w.mail, &email, PW).await?;
    gw.signup_confirmed(&w.mail, &locked, PW).await?;
    let before = scrape(&gw, None).await?;

    // Password: 2 successes, 3 failures (wrong password twice, an unknown email once)...
    let ghost = unique_email("metrics-ghost");
    for (who, password, status) in [
        (email.as_str(), "not the password", StatusCode::UNAUTHORIZED),
        (ghost.as_str(), PW, StatusCode::UNAUTHORIZED),
        (email.as_str(), PW, StatusCode::OK),
        (email.as_str(), "still not it", StatusCode::UNAUTHORIZED),
        (email.as_str(), PW, StatusCode::OK),
    ] {
        assert_eq!(sign_in_password(&gw, who, password).await?, status, "{who}");
    }
    // ...and the pool's lockout (10 failures per email and address): 10 more failures,
    // then one refused by the limit before any password is checked.
    for _ in 0..10 {
        let status = sign_in_password(&gw, &locked, "wrong guess here").await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        sign_in_password(&gw, &locked, PW).await?,
        StatusCode::TOO_MANY_REQUESTS
    );

    // SIWE (viem signs): 2 successes, and a replayed message refused.
    let first = gw.siwe_signed(None, json!({})).await?;
    let r = gw.post("/v1/sessions/siwe", first.body()).await?;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let replay = gw.post("/v1/sessions/siwe", first.body()).await?;
    assert_eq!(replay.code(), "nonce_invalid");
    let second = gw.siwe_signed(None, json!({})).await?;
    let r2 = gw.post("/v1/sessions/siwe", second.body()).await?;
    assert_eq!(r2.status, StatusCode::OK, "{r2:?}");

    // Refresh: one rotation, one unknown token.
    let refreshed = gw
        .post(
            "/v1/sessions/refresh",
            json!({ "refresh_token": r.str("refresh_token") }),
        )
        .await?;
    assert_eq!(refreshed.status, StatusCode::OK, "{refreshed:?}");
    let unknown = gw
        .post("/v1/sessions/refresh", json!({ "refresh_token": "nope" }))
        .await?;
    assert_ne!(unknown.status, StatusCode::OK);

    // Paths that carry what must never become a label: a pool that does not exist, an
    // address in a path that matches no route.
    let ghost_pool = format!("ghostpool{}", uuid::Uuid::new_v4().simple());
    let body = json!({ "email": email, "password": PW });
    let r = gw
        .call(
            reqwest::Method::POST,
            &format!("//pools/{ghost_pool}/v1/sessions/password"),
            Some(body),
            None,
        )
        .await?;
    assert_eq!(r.code(), "pool_not_found");
    let stray = format!("//pools/main/v1/nowhere/{email}/{}", first.address);
    let r = gw.call(reqwest::Method::GET, &stray, None, None).await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let after = scrape(&gw, None).await?;

    // Sign-ins moved by exactly the sign-ins made, and nothing else moved.
    let sign_ins = "gatehouse_sign_ins_total";
    let expected: BTreeMap<(&str, &str), f64> = [
        (("password", "success"), 2.0),
        (("password", "failure"), 13.0),
        (("password", "rate_limited"), 1.0),
        (("siwe", "success"), 2.0),
        (("siwe", "failure"), 1.0),
        (("refresh", "success"), 1.0),
        (("refresh", "failure"), 1.0),
    ]
    .into();
    let mut seen = before.label_sets(sign_ins);
    seen.extend(after.label_sets(sign_ins));
    for labels in &seen {
        assert_eq!(
            labels.get("pool").map(String::as_str),
            Some("main"),
            "{labels:?}"
        );
        let method = labels.get("method").map_or("", String::as_str);
        let result = labels.get("result").map_or("", String::as_str);
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let moved = after.value(sign_ins, &pairs) - before.value(sign_ins, &pairs);
        let want = expected.get(&(method, result)).copied().unwrap_or(0.0);
        assert_eq!(moved, want, "{labels:?}");
    }
    for ((method, result), want) in &expected {
        let labels = [("pool", "main"), ("method", *method), ("result", *result)];
        assert_eq!(after.value(sign_ins, &labels), *want, "{labels:?}");
    }
    let limited = [("pool", "main"), ("limit", "signin-fail")];
    assert_eq!(after.value("gatehouse_rate_limited_total", &limited), 1.0);

    // HTTP: counted by route template, method and status; timed per route and method.
    let requests = "gatehouse_http_requests_total";
    let moved = |route: &str, status: &str| {
        let labels = [("route", route), ("method", "POST"), ("status", status)];
        after.value(requests, &labels) - before.value(requests, &labels)
    };
    assert_eq!(moved(PASSWORD_ROUTE, "200"), 2.0);
    assert_eq!(moved(PASSWORD_ROUTE, "401"), 13.0);
    assert_eq!(moved(PASSWORD_ROUTE, "429"), 1.0);
    assert_eq!(
        moved(PASSWORD_ROUTE, "404"),
        1.0,
        "the pool that does not exist"
    );
    assert_eq!(moved(SIWE_ROUTE, "200"), 2.0);
    let durations = "gatehouse_http_request_duration_seconds_count";
    let timed = [("route", PASSWORD_ROUTE), ("method", "POST")];
    assert_eq!(
        after.value(durations, &timed) - before.value(durations, &timed),
        17.0
    );
    let stray_labels = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    assert!(after.value(requests, &stray_labels) >= 1.0);
    for labels in after.label_sets(requests) {
        let route = &labels["route"];
        assert!(
            route == "unmatched" || (route.starts_with('/') && !route.contains("/main")),
            "{route} is not a template"
        );
    }

    // Nothing a client typed, nor the raw pool path, reached the scrape.
    let text = after.text.to_lowercase();
    for raw in [
        email.as_str(),
        locked.as_str(),
        ghost.as_str(),
        ghost_pool.as_str(),
        "/pools/main",
        "nowhere",
    ] {
        assert!(
            !text.contains(&raw.to_lowercase()),
            "{raw} is in the scrape"
        );
    }
    for wallet in [&first.address, &second.address] {
        let hex = wallet.trim_start_matches("0x").to_lowercase();
        assert!(!text.contains(&hex), "{wallet} is in the scrape");
    }

    // The outbox and the mail sent (the two sign-up codes at least); histograms hold.
    let depth = after.value("gatehouse_mail_outbox_depth", &[]);
    assert!(depth >= 0.0 && depth.fract() == 0.0, "outbox depth {depth}");
    assert!(after.value("gatehouse_mail_sent_total", &[("result", "sent")]) >= 2.0);
    assert!(
        check_histograms(&after) >= 2,
        "the password and SIWE routes at least"
    );
    gw.stop().await
}

async fn a_metrics_token_guards_the_scrape(w: Arc<World>) -> TestResult {
    let token = "scrape-token-0123456789";
    let gw = w
        .start_with(|c| c.metrics_token = Some(Secret::new(token)))
        .await?;
    let url = format!("{}/metrics", gw.base);
    let none = gw.http.get(&url).send().await?;
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let wrong = gw.http.get(&url).bearer_auth("scrape-token").send().await?;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let body = wrong.text().await?;
    assert!(!body.contains("gatehouse_"), "{body}");
    let s = scrape(&gw, Some(token)).await?;
    assert!(
        s.families
            .iter()
            .any(|f| f.name == "gatehouse_http_requests")
    );
    // The refused scrapes were counted, under the route's template.
    let refused = [("route", "/metrics"), ("method", "GET"), ("status", "401")];
    assert_eq!(s.value("gatehouse_http_requests_total", &refused), 2.0);
    gw.stop().await
}
