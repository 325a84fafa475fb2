//! Where `export` puts its lines: stdout, a file (rotated), syslog over TCP, or HTTP. A sink
//! either accepts a whole batch or fails; what failed for a reason that may pass (a full disk, a
//! receiver down or busy) is tried again with capped, jittered exponential backoff, forever while
//! following, so the cursor never moves past a line no sink accepted.

pub mod file;
pub mod http;
pub mod syslog_tcp;

use crate::backoff::Backoff;
use anyhow::Result;
use std::io::Write;
use std::time::Duration;

/// One rendered event.
pub struct Line {
    pub text: String,
    pub position: i64,
    pub time_ms: i64,
}

/// Why a sink did not take a batch.
pub enum Failure {
    /// It may take it later: try again.
    Retry(anyhow::Error),
    /// It never will (a refusal, a wrong token): stop, the cursor where it is.
    Stop(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::Retry(e.into())
    }
}

pub enum Sink {
    Stdout,
    File(file::FileSink),
    SyslogTcp(syslog_tcp::SyslogTcp),
    Http(http::Http),
}

impl Sink {
    async fn accept(&mut self, lines: &[Line]) -> Result<(), Failure> {
        match self {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                for l in lines {
                    out.write_all(l.text.as_bytes())?;
                    out.write_all(b"\n")?;
                }
                Ok(out.flush()?)
            }
            Sink::File(f) => f.accept(lines),
            Sink::SyslogTcp(s) => s.accept(lines).await,
            Sink::Http(h) => h.accept(lines).await,
        }
    }
}

/// How long to wait between tries, and for how many.
pub struct Retries {
    pub max_backoff: Duration,
    /// None: forever.
    pub tries: Option<u32>,
}

/// Gives `lines` to `sink` until it accepts them, it refuses them for good, or the tries run out.
pub async fn deliver(sink: &mut Sink, lines: &[Line], retries: &Retries) -> Result<()> {
    let (Some(first), Some(last)) = (lines.first(), lines.last()) else {
        return Ok(());
    };
    let mut backoff = Backoff::new(retries.max_backoff);
    let mut failed = 0;
    loop {
        let e = match sink.accept(lines).await {
            Ok(()) => return Ok(()),
            Err(Failure::Stop(e)) => return Err(e),
            Err(Failure::Retry(e)) => e,
        };
        failed += 1;
        let what = format!("positions {} to {}", first.position, last.position);
        if retries.tries.is_some_and(|t| failed >= t) {
            return Err(e.context(format!("{what} not accepted after {failed} tries")));
        }
        eprintln!(
            "auditlog-shim: export: {what} not accepted, trying again in up to {:?}: {e:#}",
            backoff.limit()
        );
        backoff.wait().await;
    }
}
