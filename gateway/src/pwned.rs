//! The breach corpus: a k-anonymity range check in the Have I Been Pwned format
//! (<https://haveibeenpwned.com/API/v3#SearchingPwnedPasswordsByRange>). The SHA-1 of the
//! password is never sent: only its first five hex characters, and the corpus answers every
//! suffix under that prefix (`SUFFIX:COUNT` lines; with `Add-Padding: true`, padding lines
//! of count 0 hide the answer's real size). The URL is the operator's: the public service,
//! or a copy of the corpus they host.
//!
//! Every call has a timeout and a bounded answer; when the corpus cannot be asked, the
//! operator's setting decides: fail open (the password goes through unchecked, a warning is
//! logged and counted) or fail closed (503 `unavailable`).

use accounts::Error;
use accounts::password::BreachedPasswords;
use aws_lc_rs::digest;
use std::sync::Arc;
use std::time::Duration;

use crate::config::PwnedSettings;
use crate::metrics::Metrics;

/// The longest answer read: the public corpus answers about 30 KiB per prefix (padded).
const MAX_ANSWER: usize = 1024 * 1024;

pub struct RangeApi {
    settings: PwnedSettings,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
}

impl RangeApi {
    pub fn new(settings: PwnedSettings, metrics: Arc<Metrics>) -> Result<Self, String> {
        let http = crate::outbound::client(
            "GATEHOUSE_PWNED_URL",
            Duration::from_millis(settings.timeout_ms),
        )?;
        Ok(Self {
            settings,
            http,
            metrics,
        })
    }

    /// The count the corpus gives the suffix under its prefix; None when it cannot be asked.
    async fn ask(&self, prefix: &str, suffix: &str) -> Option<u64> {
        let url = format!("{}{prefix}", self.settings.url);
        let res = self
            .http
            .get(url)
            .header("Add-Padding", "true")
            .send()
            .await
            .ok()?;
        if !res.status().is_success() {
            return None;
        }
        if res.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
            return None;
        }
        let body = res.bytes().await.ok()?;
        if body.len() > MAX_ANSWER {
            return None;
        }
        Some(count_of(std::str::from_utf8(&body).ok()?, suffix))
    }
}

/// The count of `suffix` in a range answer (0 when absent or padding).
fn count_of(answer: &str, suffix: &str) -> u64 {
    answer
        .lines()
        .filter_map(|l| l.trim().split_once(':'))
        .find(|(s, _)| s.eq_ignore_ascii_case(suffix))
        .and_then(|(_, n)| n.trim().parse().ok())
        .unwrap_or(0)
}

/// The SHA-1 of the password, upper-case hex, split after five characters.
fn range_key(password: &str) -> (String, String) {
    let hash = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, password.as_bytes());
    let hex = hex::encode_upper(hash.as_ref());
    let (prefix, suffix) = hex.split_at(5);
    (prefix.to_string(), suffix.to_string())
}

#[async_trait::async_trait]
impl BreachedPasswords for RangeApi {
    async fn contains(&self, normalized: &str) -> Result<bool, Error> {
        let (prefix, suffix) = range_key(normalized);
        match self.ask(&prefix, &suffix).await {
            Some(n) => {
                self.metrics
                    .pwned_check(if n > 0 { "found" } else { "clean" });
                Ok(n > 0)
            }
            None if self.settings.fail_closed => {
                self.metrics.pwned_check("unavailable");
                Err(Error::Unavailable(
                    "the breach corpus (GATEHOUSE_PWNED_URL) did not answer".into(),
                ))
            }
            None => {
                self.metrics.pwned_check("unavailable");
                tracing::warn!(
                    "the breach corpus did not answer; the password goes unchecked (GATEHOUSE_PWNED_FAIL=open)"
                );
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the HIBP documentation: "P@ssw0rd" is 21BD1…, range 21BD1.
    #[test]
    fn the_range_key_is_sha1_split_after_five() {
        let (prefix, suffix) = range_key("P@ssw0rd");
        assert_eq!(prefix, "21BD1");
        assert_eq!(suffix, "2DC183F740EE76F27B78EB39C8AD972A757");
    }

    #[test]
    fn counts_are_read_from_the_answer_and_padding_is_zero() {
        let answer = "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n2DC183F740EE76F27B78EB39C8AD972A757:52579\r\n00D4F6E8FA6EECAD2A3AA415EEC418D38EC:0";
        assert_eq!(
            count_of(answer, "2dc183f740ee76f27b78eb39c8ad972a757"),
            52_579
        );
        assert_eq!(count_of(answer, "00D4F6E8FA6EECAD2A3AA415EEC418D38EC"), 0);
        assert_eq!(count_of(answer, "FFFFF"), 0);
        assert_eq!(count_of("garbage", "FFFFF"), 0);
    }
}
