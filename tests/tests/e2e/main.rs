//! End-to-end tests: every test runs once per backend (SQLite + in-process store always;
//! PostgreSQL + Redis when `GATEHOUSE_TEST_DATABASE_URL` and `GATEHOUSE_TEST_REDIS_URL` are
//! set), each against gateways it starts itself on port 0, with its own database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod balanced;
mod breached;
mod clients;
mod contracts;
mod directory;
mod federation;
mod growth;
mod hooks;
mod me;
mod metrics;
mod mfa;
mod my_data;
mod notices;
mod oauth;
mod openapi;
mod ops;
mod outage;
mod overload;
mod passkeys;
mod recovery;
mod redis_topologies;
mod replica;
mod security;
mod sessions;
mod signup;
mod step_up;
mod storage;
mod transfer;
mod verify;
mod wallets;

use gatehouse_tests::{Backend, MailSink, World};
use libtest_mimic::{Arguments, Failed, Trial};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub type TestResult = anyhow::Result<()>;
type TestFn = fn(Arc<World>) -> Pin<Box<dyn Future<Output = TestResult> + Send>>;

/// Lists test functions as `(name, fn)`.
#[macro_export]
macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        pub fn all() -> Vec<(&'static str, $crate::TestFnPub)> {
            vec![$((stringify!($name), |w| Box::pin($name(w)) as _)),*]
        }
    };
}
pub type TestFnPub = TestFn;

fn main() {
    let args = Arguments::from_args();
    let backends = match Backend::all() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mail = MailSink::start().expect("start the SMTP sink");
    let mut trials = Vec::new();
    for backend in &backends {
        // Modules that need Redis (or start their own beside PostgreSQL): the PostgreSQL
        // backend only.
        let with_redis = |all: fn() -> Vec<(&'static str, TestFn)>| match backend {
            Backend::Postgres { .. } => all(),
            Backend::Sqlite => Vec::new(),
        };
        for (module, tests) in [
            ("signup", signup::all()),
            ("sessions", sessions::all()),
            ("recovery", recovery::all()),
            ("me", me::all()),
            ("my_data", my_data::all()),
            ("ops", ops::all()),
            ("verify", verify::all()),
            ("wallets", wallets::all()),
            ("contracts", contracts::all()),
            ("storage", storage::all()),
            ("clients", clients::all()),
            ("admin", admin::all()),
            ("directory", directory::all()),
            ("oauth", oauth::all()),
            ("openapi", openapi::all()),
            ("security", security::all()),
            ("hooks", hooks::all()),
            ("transfer", transfer::all()),
            ("growth", growth::all()),
            ("metrics", metrics::all()),
            ("mfa", mfa::all()),
            ("step_up", step_up::all()),
            ("breached", breached::all()),
            ("notices", notices::all()),
            ("passkeys", passkeys::all()),
            ("federation", federation::all()),
            ("overload", overload::all()),
            // Redis outages: on the backend that has Redis.
            ("outage", with_redis(outage::all)),
            // Three instances behind HAProxy, sharing PostgreSQL and Redis.
            ("balanced", with_redis(balanced::all)),
            // A PostgreSQL read replica.
            ("replica", with_redis(replica::all)),
            // Redis Cluster and Sentinel, started by the test, beside PostgreSQL.
            ("redis_topologies", with_redis(redis_topologies::all)),
        ] {
            for (name, f) in tests {
                let backend = backend.clone();
                let mail = mail.clone();
                trials.push(Trial::test(
                    format!("{}::{module}::{name}", backend.name()),
                    move || run(backend, mail, f),
                ));
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

fn run(backend: Backend, mail: MailSink, f: TestFn) -> Result<(), Failed> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let world = Arc::new(
            World::new(&backend, mail)
                .await
                .map_err(|e| format!("{e:#}"))?,
        );
        let outcome = f(world.clone()).await;
        world
            .cleanup()
            .await
            .map_err(|e| format!("cleanup: {e:#}"))?;
        outcome.map_err(|e| Failed::from(format!("{e:#}")))
    })
}
