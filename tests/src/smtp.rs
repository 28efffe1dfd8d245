//! A real SMTP server (mailin-embedded) on a loopback port, keeping every message it
//! receives so tests can read codes out of them.

use anyhow::Result;
use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use mailin_embedded::response::OK;
use mailin_embedded::{Handler, Response, Server};

#[derive(Clone, Debug)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
}

impl Received {
    pub fn subject(&self) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_string()
    }

    /// The first 6-digit number in the subject.
    pub fn code(&self) -> Option<String> {
        let s = self.subject();
        s.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .map(String::from)
    }
}

#[derive(Default)]
struct Inbox {
    mails: Mutex<Vec<Received>>,
    arrived: Condvar,
}

#[derive(Clone)]
struct Collector {
    inbox: Arc<Inbox>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Collector {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mail = Received {
            to: self
                .to
                .iter()
                .map(|t| t.trim_matches(['<', '>']).to_lowercase())
                .collect(),
            data: String::from_utf8_lossy(&self.data).into_owned(),
        };
        if let Ok(mut m) = self.inbox.mails.lock() {
            m.push(mail);
        }
        self.inbox.arrived.notify_all();
        OK
    }
}

/// The SMTP sink; clones share one server and inbox.
#[derive(Clone)]
pub struct MailSink {
    inbox: Arc<Inbox>,
    port: u16,
}

impl MailSink {
    pub fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let inbox = Arc::new(Inbox::default());
        let mut server = Server::new(Collector {
            inbox: inbox.clone(),
            to: Vec::new(),
            data: Vec::new(),
        });
        server
            .with_name("sink.test")
            .with_num_threads(8)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Ok(Self { inbox, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every mail received so far for `to`.
    pub fn to(&self, to: &str) -> Vec<Received> {
        let to = to.to_lowercase();
        self.inbox
            .mails
            .lock()
            .map(|m| m.iter().filter(|r| r.to.contains(&to)).cloned().collect())
            .unwrap_or_default()
    }

    /// Waits (up to 10 s) until `count` mails to `to` whose subject contains `subject` have
    /// arrived, and returns the last of them.
    pub async fn wait_nth(&self, to: &str, subject: &str, count: usize) -> Result<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let matching: Vec<Received> = self
                .to(to)
                .into_iter()
                .filter(|m| m.subject().contains(subject))
                .collect();
            if matching.len() >= count {
                return Ok(matching[count - 1].clone());
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "no mail #{count} to {to} with subject containing {subject:?}; got {:?}",
                    self.to(to)
                        .iter()
                        .map(Received::subject)
                        .collect::<Vec<_>>()
                );
            }
            let inbox = self.inbox.clone();
            tokio::task::spawn_blocking(move || {
                if let Ok(guard) = inbox.mails.lock() {
                    let _ = inbox
                        .arrived
                        .wait_timeout(guard, Duration::from_millis(100));
                }
            })
            .await?;
        }
    }

    pub async fn wait(&self, to: &str, subject: &str) -> Result<Received> {
        self.wait_nth(to, subject, 1).await
    }

    /// The code in the newest mail to `to` with that subject, waiting for one more than were
    /// there when called if `fresh` would matter; tests call it right after the request.
    pub async fn wait_code(&self, to: &str, subject: &str) -> Result<String> {
        let m = self.wait(to, subject).await?;
        m.code()
            .ok_or_else(|| anyhow::anyhow!("no code in {:?}", m.subject()))
    }
}
