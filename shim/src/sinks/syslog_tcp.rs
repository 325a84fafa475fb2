//! `--syslog-tcp HOST:PORT`: RFC 5424 messages over TCP, framed by octet counting (RFC 6587
//! section 3.4.1: "MSG-LEN SP SYSLOG-MSG"). TCP has no application acknowledgement, so this is at
//! least once: a batch counts as accepted once the receiver's TCP stack acknowledged every byte
//! of it (the socket's send queue is empty, no reset, no close seen); a batch on a connection that
//! broke is sent again whole on a new one, and a receiver that died after its kernel acknowledged
//! but before it stored the lines loses them.

use super::{Failure, Line};
use anyhow::{anyhow, Context};
use std::os::fd::AsRawFd;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// How long a receiver may take to acknowledge a batch before its connection is given up.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

pub struct SyslogTcp {
    addr: String,
    stream: Option<TcpStream>,
}

/// One message as RFC 6587 octet counting frames it.
pub fn frame(msg: &str) -> String {
    format!("{} {msg}", msg.len())
}

/// Bytes the socket has sent and the peer has not acknowledged yet (Linux SIOCOUTQ).
fn unacknowledged(s: &TcpStream) -> std::io::Result<i32> {
    let mut n: libc::c_int = 0;
    // SAFETY: TIOCOUTQ (SIOCOUTQ) on a TCP socket writes one int to the pointer given.
    let r = unsafe { libc::ioctl(s.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(n)
}

impl SyslogTcp {
    pub fn new(addr: &str) -> SyslogTcp {
        SyslogTcp {
            addr: addr.to_owned(),
            stream: None,
        }
    }

    pub async fn accept(&mut self, lines: &[Line]) -> Result<(), Failure> {
        let r = self.send(lines).await;
        if r.is_err() {
            // Whatever state that connection is in, the batch goes again on a new one.
            self.stream = None;
        }
        r
    }

    async fn send(&mut self, lines: &[Line]) -> Result<(), Failure> {
        if self.stream.is_none() {
            let s = tokio::time::timeout(ACK_TIMEOUT, TcpStream::connect(&self.addr))
                .await
                .map_err(|_| anyhow!("connecting to {}: timed out", self.addr))?
                .with_context(|| format!("connecting to {}", self.addr))?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
        }
        let s = self.stream.as_mut().expect("connected above");
        let mut out = String::new();
        for l in lines {
            out.push_str(&frame(&l.text));
        }
        s.write_all(out.as_bytes()).await?;
        s.flush().await?;
        let deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
        loop {
            // Checked before the queue: a reset leaves the bytes it dropped counted as unsent.
            if let Some(e) = broken(s) {
                return Err(anyhow!("{}: {e}", self.addr).into());
            }
            if unacknowledged(s)? == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(anyhow!(
                    "{} acknowledged not all of a batch in {ACK_TIMEOUT:?}",
                    self.addr
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// Why a connection is no use any more: a reset, or the receiver's close (it may drop what came
/// after). A syslog receiver sends nothing, so anything readable is one of those.
fn broken(s: &TcpStream) -> Option<std::io::Error> {
    match s.take_error() {
        Ok(Some(e)) | Err(e) => return Some(e),
        Ok(None) => {}
    }
    match s.try_read(&mut [0u8; 1]) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
        Ok(_) => Some(std::io::Error::other("the receiver closed the connection")),
        Err(e) => Some(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn octet_counting_counts_bytes() {
        assert_eq!(super::frame("<86>1 - é"), "10 <86>1 - é");
    }
}
