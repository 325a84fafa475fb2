//! `--http URL`: each batch POSTed as NDJSON (application/x-ndjson), one line an event; with
//! `--hec-token`, in the shape of Splunk's HTTP Event Collector (/services/collector/event): the
//! header `Authorization: Splunk TOKEN`, and each line an event envelope
//! `{"time", "host", "source", "sourcetype", "event"}`, which HEC takes many of in one body.
//! A 2xx answer accepts the batch; 429, 5xx and no answer are tried again; any other answer
//! stops the export. At least once: a batch whose answer was lost is sent again.

use super::{Failure, Line};
use crate::http_client::{self, TlsArgs};
use anyhow::anyhow;
use serde_json::{json, Value};
use std::time::Duration;

/// Splunk HEC's envelope fields other than the time and the event.
pub struct Hec {
    pub token: String,
    /// None: HEC puts its own.
    pub host: Option<String>,
    pub sourcetype: String,
    /// OCSF lines go in as JSON objects, syslog and CEF lines as strings.
    pub json_events: bool,
}

pub struct Http {
    url: String,
    hec: Option<Hec>,
    client: reqwest::Client,
}

impl Hec {
    fn envelope(&self, l: &Line) -> String {
        let event = match self.json_events {
            true => serde_json::from_str(&l.text).unwrap_or_else(|_| json!(l.text)),
            false => json!(l.text),
        };
        let mut e = json!({
            "time": l.time_ms as f64 / 1000.0,
            "source": "auditlog",
            "sourcetype": self.sourcetype,
            "event": event,
        });
        if let Some(h) = &self.host {
            e["host"] = Value::String(h.clone());
        }
        e.to_string()
    }
}

impl Http {
    pub fn new(url: &str, hec: Option<Hec>, tls: &TlsArgs) -> anyhow::Result<Http> {
        Ok(Http {
            url: url.to_owned(),
            hec,
            client: http_client::build(tls, Duration::from_secs(60))?,
        })
    }

    pub async fn accept(&mut self, lines: &[Line]) -> Result<(), Failure> {
        let mut body = String::new();
        for l in lines {
            match &self.hec {
                Some(hec) => body.push_str(&hec.envelope(l)),
                None => body.push_str(&l.text),
            }
            body.push('\n');
        }
        let mut req = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/x-ndjson")
            .body(body);
        if let Some(hec) = &self.hec {
            req = req.header("Authorization", format!("Splunk {}", hec.token));
        }
        accepted(&self.url, req.send().await).await
    }
}

/// What an HTTP receiver's answer means: 2xx accepted; 429, 5xx and no answer may pass; any
/// other answer never will. (`alerts` reads its webhook's answers the same way.)
pub async fn accepted(
    url: &str,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<(), Failure> {
    let answer = sent?;
    let status = answer.status();
    if status.is_success() {
        return Ok(());
    }
    let text: String = answer
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
    let e = anyhow!("{url} answered {status}: {}", text.trim());
    match status.as_u16() {
        429 | 500..=599 => Err(Failure::Retry(e)),
        _ => Err(Failure::Stop(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hec_envelope_holds_the_event_and_its_time() {
        let hec = Hec {
            token: "t".into(),
            host: Some("db1".into()),
            sourcetype: "auditlog:ocsf".into(),
            json_events: true,
        };
        let l = Line {
            text: r#"{"class_uid":3002}"#.into(),
            position: 1,
            time_ms: 1_796_074_289_072,
        };
        let v: Value = serde_json::from_str(&hec.envelope(&l)).unwrap();
        assert_eq!(v["event"]["class_uid"], 3002);
        assert_eq!(v["time"].to_string(), "1796074289.072");
        assert_eq!(
            (v["host"].as_str(), v["source"].as_str()),
            (Some("db1"), Some("auditlog"))
        );
    }
}
