//! The configuration's parsing: files, variables, defaults, refusals, redaction.

use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn embedded_default() {
    let c = Config::load(None, &HashMap::new()).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.issuer("main"), "http://127.0.0.1:8080/pools/main");
    assert!(c.database_url.starts_with("sqlite://gatehouse-data/"));
    assert!(c.redis_url.is_none() && c.smtp_url.is_none() && c.master_key.is_none());
}

#[test]
fn env_over_file() {
    let dir = std::env::temp_dir().join(format!("gh-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("g.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9000\"\nredis_url = \"redis://file\"\n",
    )
    .unwrap();
    let c = Config::load(
        Some(&file),
        &env(&[
            ("REDIS_URL", "redis://env"),
            ("GATEHOUSE_PUBLIC_URL", "https://id.example.com/"),
        ]),
    )
    .unwrap();
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.redis_url.as_deref(), Some("redis://env"));
    assert_eq!(c.issuer("main"), "https://id.example.com/pools/main");
    assert!(c.is_https());
    let c = Config::load(
        None,
        &env(&[(
            "GATEHOUSE_RPC_URLS",
            "1=https://rpc.example/key123, 31337=http://127.0.0.1:8545",
        )]),
    )
    .unwrap();
    assert_eq!(
        c.rpc_urls.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        [1, 31337]
    );
    assert!(
        !format!("{c:?}").contains("key123"),
        "RPC URLs stay out of logs"
    );
    for bad in ["1", "x=https://a", "1=ftp://a", "1=https://a,1=https://b"] {
        assert!(
            Config::load(None, &env(&[("GATEHOUSE_RPC_URLS", bad)])).is_err(),
            "{bad}"
        );
    }
    let c = Config::load(
        None,
        &env(&[
            (
                "DATABASE_URL",
                "postgres://gh:db-secret@db.internal/gatehouse",
            ),
            ("REDIS_URL", "redis://:redis-secret@cache.internal:6379"),
        ]),
    )
    .unwrap();
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("db-secret") && !shown.contains("redis-secret"),
        "passwords in URLs stay out of logs: {shown}"
    );
    assert!(
        shown.contains("db.internal"),
        "the rest of the URL is shown"
    );
    let c = Config::load(
        None,
        &env(&[
            (
                "REDIS_URL",
                "redis+cluster://u:redis-secret@c1:7000,c2:7000",
            ),
            ("GATEHOUSE_REDIS_WAIT_REPLICAS", "2"),
        ]),
    )
    .unwrap();
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("redis-secret") && shown.contains("c2:7000"),
        "{shown}"
    );
    assert_eq!(c.redis_wait_replicas, Some(2));
    let e = Config::load(None, &env(&[("REDIS_URL", "redis://:pw@a:1,b:2")])).unwrap_err();
    assert!(
        e.to_string().contains("redis+cluster://") && !e.to_string().contains("pw"),
        "{e}"
    );
    assert_eq!(c.max_in_flight, DEFAULT_MAX_IN_FLIGHT);
    // A read replica only beside PostgreSQL, and only a PostgreSQL one.
    let e = Config::load(
        None,
        &env(&[(
            "GATEHOUSE_DATABASE_READ_URL",
            "postgres://u:replica-secret@r/db",
        )]),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("GATEHOUSE_DATABASE_READ_URL")
            && !e.to_string().contains("replica-secret"),
        "{e}"
    );
    let c = Config::load(None, &env(&[("GATEHOUSE_MAX_IN_FLIGHT", "64")])).unwrap();
    assert_eq!(c.max_in_flight, 64);
    for bad in ["0", "lots", "-3"] {
        let e = Config::load(None, &env(&[("GATEHOUSE_MAX_IN_FLIGHT", bad)])).unwrap_err();
        assert!(e.to_string().contains("GATEHOUSE_MAX_IN_FLIGHT"), "{e}");
    }
    let e = Config::load(None, &env(&[("GATEHOUSE_REDIS_WAIT_REPLICAS", "-1")])).unwrap_err();
    assert!(
        e.to_string().contains("GATEHOUSE_REDIS_WAIT_REPLICAS"),
        "{e}"
    );
    for (v, want) in [
        ("TRUE", true),
        ("1", true),
        ("yes", true),
        ("no", false),
        ("0", false),
    ] {
        let c = Config::load(None, &env(&[("GATEHOUSE_TRUST_PROXY", v)])).unwrap();
        assert_eq!(c.trust_proxy, want, "{v}");
    }
    let e = Config::load(None, &env(&[("GATEHOUSE_TRUST_PROXY", "banana")])).unwrap_err();
    assert!(e.to_string().contains("GATEHOUSE_TRUST_PROXY"), "{e}");
    std::fs::write(&file, "nonsense = 1\n").unwrap();
    assert!(Config::load(Some(&file), &HashMap::new()).is_err());
    assert!(Config::load(None, &env(&[("GATEHOUSE_PUBLIC_URL", "ftp://x")])).is_err());
    // Errors name the setting, the shape expected and the fix.
    for (name, value, says) in [
        ("GATEHOUSE_LISTEN", "8080", "127.0.0.1:8080"),
        ("GATEHOUSE_LISTEN", "example.com:80", "IP:PORT"),
        (
            "GATEHOUSE_PUBLIC_URL",
            "127.0.0.1:8080",
            "http://127.0.0.1:8080",
        ),
        ("DATABASE_URL", "mysql://root:pw@db/x", "postgres://"),
    ] {
        let e = Config::load(None, &env(&[(name, value)]))
            .unwrap_err()
            .to_string();
        assert!(e.contains(name) && e.contains(says), "{e}");
        assert!(!e.contains(":pw@"), "no password in the error: {e}");
    }
    let c = Config::load(None, &env(&[("GATEHOUSE_LISTEN", "localhost:9001")])).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:9001");
    let c = Config::load(None, &env(&[("GATEHOUSE_METRICS_TOKEN", "scrape-secret")])).unwrap();
    assert_eq!(
        c.metrics_token.as_ref().map(|t| t.expose()),
        Some("scrape-secret")
    );
    assert!(!format!("{c:?}").contains("scrape-secret"));
}
