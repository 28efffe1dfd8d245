//! The real `gatehouse` binary with zero configuration: it starts on the embedded default
//! (SQLite and a generated master key in the data directory), answers, and stops cleanly on
//! SIGTERM. The API itself is covered by the `tests` crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn embedded_default_starts_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GATEHOUSE_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut log = Vec::new();
    let port = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("no 'listening' line");
        log.push(line.clone());
        if line.contains("gatehouse listening") {
            let addr = line
                .split("listen=")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap();
            break addr.rsplit(':').next().unwrap().parse::<u16>().unwrap();
        }
    };
    assert!(
        log.iter().any(|l| l.contains("GENERATED A MASTER KEY")),
        "the generated key is announced: {log:?}"
    );
    assert!(
        log.iter().any(|l| l.contains("mail goes to the log")),
        "{log:?}"
    );
    let data = dir.path().join("gatehouse-data");
    assert!(data.join("gatehouse.db").exists());
    assert!(data.join("master.key").exists());

    let body = http_get(port, "/healthz");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    let body = http_get(port, "/pools/main/.well-known/openid-configuration");
    assert!(
        body.contains(&format!(
            "\"issuer\":\"http://127.0.0.1:{port}/pools/main\""
        )),
        "{body}"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// `gatehouse client create|list|delete` on the embedded default: the secret is printed
/// once, never listed, and a deleted client is gone.
#[test]
fn client_commands_create_list_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .args(args)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let created: serde_json::Value = serde_json::from_str(&run(&[
        "client",
        "create",
        "--name",
        "Web app",
        "--redirect-uri",
        "https://app.example/callback",
        "--scope",
        "openid",
        "--scope",
        "email",
    ]))
    .unwrap();
    let id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 40, "{secret}");
    assert_eq!(created["redirect_uris"][0], "https://app.example/callback");
    assert_eq!(created["scopes"], serde_json::json!(["email", "openid"]));
    let listed = run(&["client", "list"]);
    assert!(
        listed.contains(&id) && !listed.contains(&secret),
        "{listed}"
    );
    let public: serde_json::Value = serde_json::from_str(&run(&[
        "client",
        "create",
        "--name",
        "SPA",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1:5173/cb",
    ]))
    .unwrap();
    assert!(public.get("client_secret").is_none());
    assert_eq!(public["token_endpoint_auth_method"], "none");
    run(&["client", "delete", "--client-id", &id]);
    let listed = run(&["client", "list"]);
    assert!(!listed.contains(&id), "{listed}");
    // Bad metadata: refused with the reason, nothing stored.
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args([
            "client",
            "create",
            "--name",
            "bad",
            "--redirect-uri",
            "http://evil.example/cb",
        ])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&run(&["client", "list"]))
            .unwrap()
            .len(),
        1
    );
}

/// Runs `gatehouse serve` with `env` in a fresh directory; its exit status, stderr and how
/// long it took.
fn serve_with(env: &[(&str, &str)]) -> (std::process::ExitStatus, String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

/// A start-up that cannot work fails at once, naming the setting and the fix; a Redis that
/// cannot be reached fails the start within seconds, before the port is taken.
#[test]
fn bad_settings_fail_the_start_with_the_fix() {
    for (name, value, says) in [
        ("GATEHOUSE_LISTEN", "8080", "127.0.0.1:8080"),
        (
            "GATEHOUSE_PUBLIC_URL",
            "127.0.0.1:8080",
            "http://127.0.0.1:8080",
        ),
        ("DATABASE_URL", "mysql://root:hunter2@db/x", "postgres://"),
        ("GATEHOUSE_TRUST_PROXY", "banana", "true or false"),
    ] {
        let (status, stderr, _) = serve_with(&[(name, value)]);
        assert!(!status.success(), "{name}={value}");
        assert!(
            stderr.contains(name) && stderr.contains(says),
            "{name}={value}: {stderr}"
        );
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
    // A port nobody listens on: connection refused at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let redis = format!("redis://:hunter2@127.0.0.1:{port}");
    let (status, stderr, took) = serve_with(&[
        ("REDIS_URL", redis.as_str()),
        ("GATEHOUSE_LISTEN", "127.0.0.1:0"),
    ]);
    assert!(!status.success());
    assert!(stderr.contains("REDIS_URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    // A port in use is named with the setting.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let (status, stderr, _) = serve_with(&[("GATEHOUSE_LISTEN", addr.as_str())]);
    assert!(!status.success());
    assert!(
        stderr.contains(&addr) && stderr.contains("GATEHOUSE_LISTEN"),
        "{stderr}"
    );
}
