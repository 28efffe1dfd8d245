//! The gateway's metrics, read by Prometheus at `/metrics` (text format 0.0.4): HTTP requests
//! and their latency by route template, sign-ins by pool, method and result, rate-limit
//! refusals, the mail outbox and deliveries, and JSON-RPC calls to the chains.
//!
//! One registry per [`crate::AppState`], no global: every gateway a test starts counts on
//! its own. Labels are low-cardinality by construction: route templates (never raw paths),
//! pool names only of pools that exist (operators create them), and small fixed sets of
//! words; never an email, an address, a token or anything else a client typed. Code that
//! counts calls a method here; this module knows nothing of HTTP and imports nothing from
//! `http` or `flows`.

use prometheus_client::encoding::{EncodeLabel, EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The `Content-Type` of the Prometheus text format (version 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The route label of a request that matched no route (a 404), so a scan of random paths
/// adds no series.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Upper bounds (seconds) of the HTTP latency buckets: from a token validation (about a
/// millisecond) to the 30 s request deadline; an argon2 sign-in lands near 0.1 to 0.5.
const HTTP_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Upper bounds (seconds) of the JSON-RPC latency buckets, up to the longest timeout (60 s).
const RPC_BUCKETS: [f64; 11] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];

/// How a person (or a client) signed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignInMethod {
    /// Email and password (API and hosted page).
    Password,
    /// Sign-In with Ethereum (API and hosted page).
    Siwe,
    /// A refresh token rotated (`/v1/sessions/refresh` and the `refresh_token` grant).
    Refresh,
    /// A recovery code mailed to the account's address.
    Recovery,
    /// An authorization code redeemed at the token endpoint.
    OauthCode,
    /// A confidential client's own token (`client_credentials`).
    ClientCredentials,
    /// A second factor answered (`/v1/sessions/mfa` and the hosted challenge page).
    Mfa,
    /// A passkey alone (`/v1/sessions/passkey`).
    Passkey,
    /// Through an upstream identity provider (`/federation/{idp}/callback`).
    Federated,
}

impl SignInMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInMethod::Password => "password",
            SignInMethod::Siwe => "siwe",
            SignInMethod::Refresh => "refresh",
            SignInMethod::Recovery => "recovery",
            SignInMethod::OauthCode => "oauth_code",
            SignInMethod::ClientCredentials => "client_credentials",
            SignInMethod::Mfa => "mfa",
            SignInMethod::Passkey => "passkey",
            SignInMethod::Federated => "federated",
        }
    }
}

/// What became of a sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignInResult {
    /// Tokens were issued (or a session opened).
    Success,
    /// Refused: wrong credentials, a bad code, signature or grant, a disabled account.
    Failure,
    /// Refused by a rate limit before anything was checked.
    RateLimited,
    /// The gateway or a backing service failed (database, Redis, a chain's RPC).
    Error,
    /// The first factor passed; a second one is due (no tokens yet).
    Challenged,
}

impl SignInResult {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInResult::Success => "success",
            SignInResult::Failure => "failure",
            SignInResult::RateLimited => "rate_limited",
            SignInResult::Error => "error",
            SignInResult::Challenged => "challenged",
        }
    }

    /// The result of a sign-in the user pool refused: the service's own failure, or a
    /// refusal.
    pub fn of_account_error(e: &accounts::Error) -> Self {
        use accounts::Error as E;
        match e {
            E::Store(_) | E::Ephemeral(_) | E::Crypto | E::Unavailable(_) | E::Overloaded(_) => {
                SignInResult::Error
            }
            _ => SignInResult::Failure,
        }
    }

    /// The result of a sign-in that ended with `outcome` in the user pool.
    pub fn of_account<T>(outcome: &Result<T, accounts::Error>) -> Self {
        match outcome {
            Ok(_) => SignInResult::Success,
            Err(e) => Self::of_account_error(e),
        }
    }
}

/// What became of one attempt to send a mail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MailResult {
    /// Handed to the transport (SMTP, or the log).
    Sent,
    /// Failed; it is tried again later.
    Retry,
    /// Failed for the last time: the mail is given up.
    GivenUp,
}

impl MailResult {
    pub fn as_str(self) -> &'static str {
        match self {
            MailResult::Sent => "sent",
            MailResult::Retry => "retry",
            MailResult::GivenUp => "given_up",
        }
    }
}

/// `{route, method, status}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

impl EncodeLabelSet for RequestLabels {
    fn encode(&self, e: &mut LabelSetEncoder) -> fmt::Result {
        ("route", self.route.as_str()).encode(e.encode_label())?;
        ("method", self.method).encode(e.encode_label())?;
        ("status", self.status).encode(e.encode_label())
    }
}

/// `{route, method}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

impl EncodeLabelSet for RouteLabels {
    fn encode(&self, e: &mut LabelSetEncoder) -> fmt::Result {
        ("route", self.route.as_str()).encode(e.encode_label())?;
        ("method", self.method).encode(e.encode_label())
    }
}

/// `{pool, method, result}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SignInLabels {
    pool: String,
    method: SignInMethod,
    result: SignInResult,
}

impl EncodeLabelSet for SignInLabels {
    fn encode(&self, e: &mut LabelSetEncoder) -> fmt::Result {
        ("pool", self.pool.as_str()).encode(e.encode_label())?;
        ("method", self.method.as_str()).encode(e.encode_label())?;
        ("result", self.result.as_str()).encode(e.encode_label())
    }
}

/// `{pool, limit}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct LimitLabels {
    pool: String,
    limit: &'static str,
}

impl EncodeLabelSet for LimitLabels {
    fn encode(&self, e: &mut LabelSetEncoder) -> fmt::Result {
        ("pool", self.pool.as_str()).encode(e.encode_label())?;
        ("limit", self.limit).encode(e.encode_label())
    }
}

/// `{result}` of a mail attempt.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct MailLabels {
    result: MailResult,
}

impl EncodeLabelSet for MailLabels {
    fn encode(&self, e: &mut LabelSetEncoder) -> fmt::Result {
        ("result", self.result.as_str()).encode(e.encode_label())
    }
}

/// `{chain, result}` of a JSON-RPC request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct RpcLabels {
    chain: u64,
    result: &'static str,
}

impl EncodeLabelSet for RpcLabels {
    fn encode(&self, e: &mut LabelSetEncoder) -> fmt::Result {
        ("chain", self.chain).encode(e.encode_label())?;
        ("result", self.result).encode(e.encode_label())
    }
}

/// `{trigger, result}` of a hook call.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct HookLabels {
    trigger: &'static str,
    result: &'static str,
}

impl EncodeLabelSet for HookLabels {
    fn encode(&self, e: &mut LabelSetEncoder) -> fmt::Result {
        ("trigger", self.trigger).encode(e.encode_label())?;
        ("result", self.result).encode(e.encode_label())
    }
}

/// `{trigger}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TriggerLabels {
    trigger: &'static str,
}

impl EncodeLabelSet for TriggerLabels {
    fn encode(&self, e: &mut LabelSetEncoder) -> fmt::Result {
        ("trigger", self.trigger).encode(e.encode_label())
    }
}

/// `{chain}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ChainLabels {
    chain: u64,
}

impl EncodeLabelSet for ChainLabels {
    fn encode(&self, e: &mut LabelSetEncoder) -> fmt::Result {
        ("chain", self.chain).encode(e.encode_label())
    }
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn http_histogram() -> Histogram {
    Histogram::new(HTTP_BUCKETS)
}

fn rpc_histogram() -> Histogram {
    Histogram::new(RPC_BUCKETS)
}

/// Every series the gateway exposes, and the registry that writes them out.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<RequestLabels, Counter>,
    http_duration: Histograms<RouteLabels>,
    sign_ins: Family<SignInLabels, Counter>,
    rate_limited: Family<LimitLabels, Counter>,
    outbox_depth: Gauge,
    mail_sent: Family<MailLabels, Counter>,
    rpc_requests: Family<RpcLabels, Counter>,
    rpc_duration: Histograms<ChainLabels>,
    hook_calls: Family<HookLabels, Counter>,
    hook_duration: Histograms<TriggerLabels>,
    pwned_checks: Family<OutcomeLabels, Counter>,
    redis_failovers: Counter,
}

/// `{outcome}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct OutcomeLabels {
    outcome: &'static str,
}

impl EncodeLabelSet for OutcomeLabels {
    fn encode(&self, e: &mut LabelSetEncoder) -> fmt::Result {
        ("outcome", self.outcome).encode(e.encode_label())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every series, all at zero.
    pub fn new() -> Self {
        let http_requests = Family::default();
        let http_duration = Histograms::new_with_constructor(http_histogram as fn() -> _);
        let sign_ins = Family::default();
        let rate_limited = Family::default();
        let outbox_depth = Gauge::default();
        let mail_sent: Family<MailLabels, Counter> = Family::default();
        // Every result at zero from the start, so a rate over it is 0, not absent.
        for result in [MailResult::Sent, MailResult::Retry, MailResult::GivenUp] {
            let _ = mail_sent.get_or_create(&MailLabels { result });
        }
        let rpc_requests = Family::default();
        let rpc_duration = Histograms::new_with_constructor(rpc_histogram as fn() -> _);
        let hook_calls = Family::default();
        let hook_duration = Histograms::new_with_constructor(rpc_histogram as fn() -> _);
        let pwned_checks = Family::default();
        let redis_failovers = Counter::default();
        // Help texts end without a full stop: the registry adds one.
        let mut r = Registry::with_prefix("gatehouse");
        r.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method",
            http_duration.clone(),
        );
        r.register(
            "sign_ins",
            "Sign-ins by pool, method (password, siwe, refresh, recovery, mfa, oauth_code, client_credentials) and result (success, challenged, failure, rate_limited, error)",
            sign_ins.clone(),
        );
        r.register(
            "rate_limited",
            "Requests a rate limit refused, by pool and limit",
            rate_limited.clone(),
        );
        r.register(
            "mail_outbox_depth",
            "Mails and mail jobs in the outbox not yet sent nor given up (the whole database's, read at scrape time)",
            outbox_depth.clone(),
        );
        r.register(
            "mail_sent",
            "Attempts to send a mail by this instance, by result (sent, retry, given_up)",
            mail_sent.clone(),
        );
        r.register(
            "rpc_requests",
            "JSON-RPC requests to a chain (contract-wallet signature checks), by chain id and result (ok, reverted, timeout, error)",
            rpc_requests.clone(),
        );
        r.register(
            "rpc_duration_seconds",
            "Time a JSON-RPC request to a chain took, by chain id",
            rpc_duration.clone(),
        );
        r.register(
            "hook_calls",
            "Calls to a pool's hooks by this instance, by trigger and result (ok, denied, timeout, error, refused)",
            hook_calls.clone(),
        );
        r.register(
            "hook_duration_seconds",
            "Time a hook call took, by trigger",
            hook_duration.clone(),
        );
        r.register(
            "pwned_checks",
            "Passwords checked against the breach corpus, by outcome (clean, found, unavailable)",
            pwned_checks.clone(),
        );
        r.register(
            "redis_failovers",
            "Redis primaries this instance saw restart or take over from another (rate-limit and lockout counts written just before may be lost)",
            redis_failovers.clone(),
        );
        Self {
            registry: r,
            http_requests,
            http_duration,
            sign_ins,
            rate_limited,
            outbox_depth,
            mail_sent,
            rpc_requests,
            rpc_duration,
            hook_calls,
            hook_duration,
            pwned_checks,
            redis_failovers,
        }
    }

    /// One password checked against the breach corpus.
    pub fn pwned_check(&self, outcome: &'static str) {
        self.pwned_checks
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// One HTTP request answered: `route` is the route template, or [`UNMATCHED_ROUTE`];
    /// `method` one of the standard methods or `other`.
    pub fn http_request(&self, route: &str, method: &'static str, status: u16, took: Duration) {
        self.http_requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                method,
                status,
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                route: route.to_string(),
                method,
            })
            .observe(took.as_secs_f64());
    }

    /// One sign-in in the pool named `pool` (a pool that exists).
    pub fn sign_in(&self, pool: &str, method: SignInMethod, result: SignInResult) {
        self.sign_ins
            .get_or_create(&SignInLabels {
                pool: pool.to_string(),
                method,
                result,
            })
            .inc();
    }

    /// One request the limit named `limit` refused in the pool named `pool`.
    pub fn rate_limited(&self, pool: &str, limit: &'static str) {
        self.rate_limited
            .get_or_create(&LimitLabels {
                pool: pool.to_string(),
                limit,
            })
            .inc();
    }

    /// The outbox's depth as last counted.
    pub fn set_outbox_depth(&self, depth: i64) {
        self.outbox_depth.set(depth);
    }

    /// One attempt to send a mail.
    pub fn mail_attempt(&self, result: MailResult) {
        self.mail_sent.get_or_create(&MailLabels { result }).inc();
    }

    /// One JSON-RPC request to chain `chain`.
    pub fn rpc_request(&self, chain: u64, outcome: wallet::RpcOutcome, took: Duration) {
        self.rpc_requests
            .get_or_create(&RpcLabels {
                chain,
                result: outcome.as_str(),
            })
            .inc();
        self.rpc_duration
            .get_or_create(&ChainLabels { chain })
            .observe(took.as_secs_f64());
    }

    /// A Redis primary that restarted or took over, seen by this instance.
    pub fn redis_failover(&self) {
        self.redis_failovers.inc();
    }

    /// One call to a hook (`result`: `ok`, `denied`, `timeout`, `error`, `refused`).
    pub fn hook_call(&self, trigger: &'static str, result: &'static str, took: Duration) {
        self.hook_calls
            .get_or_create(&HookLabels { trigger, result })
            .inc();
        self.hook_duration
            .get_or_create(&TriggerLabels { trigger })
            .observe(took.as_secs_f64());
    }

    /// What the chains' client tells of each request, counted here.
    pub fn rpc_observer(self: &Arc<Self>) -> wallet::RpcObserver {
        let metrics = self.clone();
        Arc::new(move |chain, outcome, took| metrics.rpc_request(chain, outcome, took))
    }

    /// Every series in the Prometheus text format 0.0.4 ([`CONTENT_TYPE`]).
    pub fn render(&self) -> Result<String, fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_written_with_their_labels() -> Result<(), fmt::Error> {
        let m = Metrics::new();
        // A family is written once it has a series: the outbox gauge, and the mail
        // results (at zero) from the start.
        let fresh = m.render()?;
        assert!(
            fresh.contains("# TYPE gatehouse_mail_outbox_depth gauge\n"),
            "{fresh}"
        );
        assert!(
            fresh.contains("gatehouse_mail_sent_total{result=\"given_up\"} 0\n"),
            "{fresh}"
        );
        assert!(!fresh.contains("gatehouse_sign_ins"), "{fresh}");
        m.http_request(
            "/pools/{pool}/v1/sessions/password",
            "POST",
            401,
            Duration::from_millis(120),
        );
        m.sign_in("main", SignInMethod::OauthCode, SignInResult::RateLimited);
        m.sign_in("main", SignInMethod::OauthCode, SignInResult::RateLimited);
        m.rate_limited("main", "attempt-ip");
        m.set_outbox_depth(3);
        m.mail_attempt(MailResult::GivenUp);
        m.rpc_request(31337, wallet::RpcOutcome::TimedOut, Duration::from_secs(2));
        let text = m.render()?;
        for line in [
            r#"gatehouse_http_requests_total{route="/pools/{pool}/v1/sessions/password",method="POST",status="401"} 1"#,
            r#"gatehouse_http_request_duration_seconds_bucket{route="/pools/{pool}/v1/sessions/password",method="POST",le="0.1"} 0"#,
            r#"gatehouse_http_request_duration_seconds_bucket{route="/pools/{pool}/v1/sessions/password",method="POST",le="0.25"} 1"#,
            r#"gatehouse_http_request_duration_seconds_count{route="/pools/{pool}/v1/sessions/password",method="POST"} 1"#,
            r#"gatehouse_sign_ins_total{pool="main",method="oauth_code",result="rate_limited"} 2"#,
            r#"gatehouse_rate_limited_total{pool="main",limit="attempt-ip"} 1"#,
            "gatehouse_mail_outbox_depth 3",
            r#"gatehouse_mail_sent_total{result="given_up"} 1"#,
            r#"gatehouse_rpc_requests_total{chain="31337",result="timeout"} 1"#,
            r#"gatehouse_rpc_duration_seconds_bucket{chain="31337",le="+Inf"} 1"#,
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
        for (name, kind) in [
            ("gatehouse_http_requests_total", "counter"),
            ("gatehouse_http_request_duration_seconds", "histogram"),
            ("gatehouse_sign_ins_total", "counter"),
            ("gatehouse_rate_limited_total", "counter"),
            ("gatehouse_mail_outbox_depth", "gauge"),
            ("gatehouse_mail_sent_total", "counter"),
            ("gatehouse_rpc_requests_total", "counter"),
            ("gatehouse_rpc_duration_seconds", "histogram"),
            ("gatehouse_redis_failovers_total", "counter"),
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "{name}: {text}"
            );
        }
        Ok(())
    }

    #[test]
    fn store_failures_are_errors_and_refusals_failures() {
        use accounts::Error as E;
        assert_eq!(
            SignInResult::of_account::<()>(&Err(E::InvalidCredentials)),
            SignInResult::Failure
        );
        assert_eq!(
            SignInResult::of_account::<()>(&Err(E::Unavailable("db".into()))),
            SignInResult::Error
        );
        assert_eq!(SignInResult::of_account(&Ok(())), SignInResult::Success);
    }
}
