//! `--http URL`: each batch POSTed as NDJSON (application/x-ndjson), one line an event; with
//! `--hec-token`, in the shape of Splunk's HTTP Event Collector (/services/collector/event): the
//! header `Authorization: Splunk TOKEN`, and each line an event envelope
//! `{"time", "host", "source", "sourcetype", "event"}`, which HEC takes many of in one body.
//! A 2xx answer accepts the batch; 429, 5xx and no answer are tried again; any other answer
//! stops the export. At least once: a batch whose answer was lost is sent again.
//!
//! With indexer acknowledgement (`--hec-ack-seconds`, the token's useACK on), HEC's 2xx only
//! says it received the batch: the sink then asks /services/collector/ack on its channel until
//! the batch's ackId is acknowledged (indexed), and only then accepts it; a batch not
//! acknowledged in time is sent again, as Splunk's documentation advises.

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
    /// With indexer acknowledgement: how long to wait for a batch's.
    pub ack: Option<Duration>,
}

pub struct Http {
    url: String,
    hec: Option<Hec>,
    client: reqwest::Client,
    /// HEC's X-Splunk-Request-Channel: acknowledgements are asked for per channel.
    channel: String,
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
            channel: uuid::Uuid::new_v4().to_string(),
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
        let req = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/x-ndjson")
            .body(body);
        let Some(hec) = &self.hec else {
            return accepted(&self.url, req.send().await).await.map(drop);
        };
        let answer = accepted(&self.url, self.to_hec(req, hec).send().await).await?;
        let Some(wait) = hec.ack else { return Ok(()) };
        let ack_id = json_of(answer)
            .await
            .ok()
            .and_then(|v| v["ackId"].as_u64())
            .ok_or_else(|| {
                Failure::Stop(anyhow!(
                    "{} answered without an ackId: turn indexer acknowledgement on for the token, or leave out --hec-ack-seconds",
                    self.url
                ))
            })?;
        self.acknowledged(hec, ack_id, wait).await
    }

    /// `req` with HEC's token and this sink's channel, as its event and ack endpoints take them.
    fn to_hec(&self, req: reqwest::RequestBuilder, hec: &Hec) -> reqwest::RequestBuilder {
        req.header("Authorization", format!("Splunk {}", hec.token))
            .header("X-Splunk-Request-Channel", &self.channel)
    }

    /// Asks HEC until `ack_id` is acknowledged; after `wait`, the batch is to be sent again.
    async fn acknowledged(&self, hec: &Hec, ack_id: u64, wait: Duration) -> Result<(), Failure> {
        let url = ack_url(&self.url, &self.channel)?;
        let deadline = tokio::time::Instant::now() + wait;
        let mut pause = Duration::from_millis(100);
        loop {
            let req = self
                .client
                .post(url.clone())
                .header("Content-Type", "application/json")
                .body(json!({ "acks": [ack_id] }).to_string());
            let answer = accepted(url.as_str(), self.to_hec(req, hec).send().await).await?;
            let acks = json_of(answer).await?;
            if acks["acks"][ack_id.to_string()] == json!(true) {
                return Ok(());
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(Failure::Retry(anyhow!(
                    "HEC did not acknowledge ackId {ack_id} within {wait:?}: the batch is sent again"
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }
}

/// HEC's acknowledgement endpoint beside `event_url`'s collector, under the same prefix when a
/// proxy adds one (`https://gw/splunk/services/collector/event` -> `.../splunk/services/collector/ack`).
fn ack_url(event_url: &str, channel: &str) -> anyhow::Result<reqwest::Url> {
    let mut url = reqwest::Url::parse(event_url)?;
    let path = url.path();
    let collector = match path.find("/services/collector") {
        Some(at) => &path[..at + "/services/collector".len()],
        None => "/services/collector",
    };
    url.set_path(&format!("{collector}/ack"));
    url.set_query(Some(&format!("channel={channel}")));
    Ok(url)
}

async fn json_of(answer: reqwest::Response) -> anyhow::Result<Value> {
    Ok(serde_json::from_str(&answer.text().await?)?)
}

/// What an HTTP receiver's answer means: 2xx accepted; 429, 5xx and no answer may pass; any
/// other answer never will. (`alerts` reads its webhook's answers the same way.)
pub async fn accepted(
    url: &str,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<reqwest::Response, Failure> {
    let answer = sent?;
    let status = answer.status();
    if status.is_success() {
        return Ok(answer);
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
    fn the_ack_endpoint_sits_beside_the_collector() {
        let ack = |u: &str| ack_url(u, "c1").unwrap().to_string();
        assert_eq!(
            ack("https://hec:8088/services/collector/event?x=1"),
            "https://hec:8088/services/collector/ack?channel=c1"
        );
        assert_eq!(
            ack("https://gw/splunk/services/collector/raw"),
            "https://gw/splunk/services/collector/ack?channel=c1"
        );
        assert_eq!(
            ack("http://hec/"),
            "http://hec/services/collector/ack?channel=c1"
        );
    }

    #[test]
    fn a_hec_envelope_holds_the_event_and_its_time() {
        let hec = Hec {
            token: "t".into(),
            host: Some("db1".into()),
            sourcetype: "auditlog:ocsf".into(),
            json_events: true,
            ack: None,
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
