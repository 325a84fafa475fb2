//! OpenTelemetry logs in (OTLP/HTTP `POST /v1/logs`, protobuf or JSON): each log record with the
//! attribute `audit.event_type` becomes an NDJSON line of the shim's own shape, so it is checked,
//! spooled and delivered exactly as one posted to `/v1/events`.
//!
//! Mapping: `enduser.id` -> user_id, `session.id`, `client.address` -> ip_address,
//! `user_agent.original`, the trace id -> correlation_id (`audit.correlation_id` overrides it),
//! `audit.parent_correlation_id` -> the parent (a log record carries no parent span), and
//! `audit.event_id` -> event_id; every other attribute goes to event_data, the body to
//! `event_data.message`, and the record's trace context, severity, resource and scope to
//! `event_data.otel`. Records without `audit.event_type` are an application's other logs: they are
//! counted and left, and the answer's partial success says so.

use base64::Engine;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value::Value as Any, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;
use serde_json::{json, Map, Value};

/// How a request body is encoded (OTLP/HTTP allows both).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// From the request's media type; `None` for one OTLP/HTTP does not define.
    pub fn from_media(media: &str) -> Option<Encoding> {
        match media {
            "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }

    pub fn media(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

pub fn decode(body: &[u8], encoding: Encoding) -> Result<ExportLogsServiceRequest, String> {
    match encoding {
        Encoding::Protobuf => ExportLogsServiceRequest::decode(body)
            .map_err(|e| format!("not an OTLP ExportLogsServiceRequest in protobuf: {e}")),
        Encoding::Json => serde_json::from_slice(body)
            .map_err(|e| e.to_string())
            .and_then(|v| from_json(&v))
            .map_err(|e| format!("not an OTLP ExportLogsServiceRequest in JSON: {e}")),
    }
}

/// OTLP's JSON mapping, read here rather than by the proto crate's serde support: that one reads
/// no fractional `doubleValue` under serde_json's `arbitrary_precision`, which the workspace needs
/// for hashing numbers as given. Unknown fields are ignored, as the mapping says.
fn from_json(v: &Value) -> Result<ExportLogsServiceRequest, String> {
    use opentelemetry_proto::tonic::{
        common::v1::InstrumentationScope,
        logs::v1::{ResourceLogs, ScopeLogs},
        resource::v1::Resource,
    };
    let resource_logs = list(v, "resourceLogs", |rl| {
        Ok(ResourceLogs {
            resource: field(rl, "resource")
                .map(|r| -> Result<_, String> {
                    Ok(Resource {
                        attributes: key_values(r)?,
                        ..Default::default()
                    })
                })
                .transpose()?,
            scope_logs: list(rl, "scopeLogs", |sl| {
                Ok(ScopeLogs {
                    scope: field(sl, "scope")
                        .map(|s| -> Result<_, String> {
                            Ok(InstrumentationScope {
                                name: string(s, "name")?,
                                version: string(s, "version")?,
                                attributes: key_values(s)?,
                                ..Default::default()
                            })
                        })
                        .transpose()?,
                    log_records: list(sl, "logRecords", |r| {
                        Ok(LogRecord {
                            time_unix_nano: integer(r, "timeUnixNano")? as u64,
                            observed_time_unix_nano: integer(r, "observedTimeUnixNano")? as u64,
                            severity_number: integer(r, "severityNumber")? as i32,
                            severity_text: string(r, "severityText")?,
                            body: field(r, "body").map(any_value).transpose()?,
                            attributes: key_values(r)?,
                            trace_id: hex_id(r, "traceId")?,
                            span_id: hex_id(r, "spanId")?,
                            ..Default::default()
                        })
                    })?,
                    ..Default::default()
                })
            })?,
            ..Default::default()
        })
    })?;
    Ok(ExportLogsServiceRequest { resource_logs })
}

fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|f| !f.is_null())
}

fn list<T>(
    v: &Value,
    key: &str,
    each: impl Fn(&Value) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    match field(v, key) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(each).collect(),
        Some(other) => Err(format!("{key} must be an array, not {other}")),
    }
}

fn string(v: &Value, key: &str) -> Result<String, String> {
    match field(v, key) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!("{key} must be a string, not {other}")),
    }
}

/// A 64-bit integer, which the mapping allows as a number or a decimal string.
fn integer(v: &Value, key: &str) -> Result<i64, String> {
    let n = match field(v, key) {
        None => return Ok(0),
        Some(Value::String(s)) => s.parse::<i128>().ok(),
        Some(Value::Number(n)) => n.to_string().parse::<i128>().ok(),
        Some(_) => None,
    };
    n.and_then(|n| {
        i64::try_from(n)
            .or_else(|_| u64::try_from(n).map(|u| u as i64))
            .ok()
    })
    .ok_or_else(|| format!("{key} must be a 64-bit integer, not {}", v[key]))
}

/// Trace and span ids are hex in the JSON mapping (not base64 as proto3's).
fn hex_id(v: &Value, key: &str) -> Result<Vec<u8>, String> {
    hex::decode(string(v, key)?).map_err(|e| format!("{key} must be hex: {e}"))
}

fn key_values(v: &Value) -> Result<Vec<KeyValue>, String> {
    list(v, "attributes", key_value)
}

fn key_value(kv: &Value) -> Result<KeyValue, String> {
    Ok(KeyValue {
        key: string(kv, "key")?,
        value: field(kv, "value").map(any_value).transpose()?,
        ..Default::default()
    })
}

fn any_value(v: &Value) -> Result<AnyValue, String> {
    let value = if let Some(s) = field(v, "stringValue") {
        Some(Any::StringValue(
            s.as_str().ok_or("stringValue must be a string")?.into(),
        ))
    } else if let Some(b) = field(v, "boolValue") {
        Some(Any::BoolValue(
            b.as_bool().ok_or("boolValue must be true or false")?,
        ))
    } else if field(v, "intValue").is_some() {
        Some(Any::IntValue(integer(v, "intValue")?))
    } else if let Some(d) = field(v, "doubleValue") {
        let d = match d {
            Value::Number(n) => n.to_string().parse().ok(),
            Value::String(s) => s.parse().ok(), // "NaN", "Infinity", "-Infinity"
            _ => None,
        };
        Some(Any::DoubleValue(d.ok_or("doubleValue must be a number")?))
    } else if let Some(a) = field(v, "arrayValue") {
        Some(Any::ArrayValue(
            opentelemetry_proto::tonic::common::v1::ArrayValue {
                values: list(a, "values", any_value)?,
            },
        ))
    } else if let Some(l) = field(v, "kvlistValue") {
        Some(Any::KvlistValue(
            opentelemetry_proto::tonic::common::v1::KeyValueList {
                values: list(l, "values", key_value)?,
            },
        ))
    } else if field(v, "bytesValue").is_some() {
        let b64 = string(v, "bytesValue")?;
        Some(Any::BytesValue(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("bytesValue must be base64: {e}"))?,
        ))
    } else {
        None
    };
    Ok(AnyValue { value })
}

/// The answer OTLP/HTTP expects: a partial success only when something was refused or left.
pub fn response(refused: usize, why: &[String], encoding: Encoding) -> Vec<u8> {
    let answer = ExportLogsServiceResponse {
        partial_success: (!why.is_empty()).then(|| ExportLogsPartialSuccess {
            rejected_log_records: refused as i64,
            error_message: why.join("; "),
        }),
    };
    match encoding {
        Encoding::Protobuf => answer.encode_to_vec(),
        Encoding::Json => match answer.partial_success {
            None => b"{}".to_vec(),
            Some(p) => json!({"partialSuccess": {
                "rejectedLogRecords": p.rejected_log_records.to_string(),
                "errorMessage": p.error_message,
            }})
            .to_string()
            .into_bytes(),
        },
    }
}

/// One audit record of a request: its NDJSON line, and whether the line is the same bytes
/// whenever the record is sent again (it has a time of its own), so that a retried export gets
/// the same event ids and is logged once.
pub struct AuditRecord {
    pub line: String,
    pub repeatable: bool,
}

/// The request's records in order: audit records as lines (or why one cannot be), and how many
/// were not audit records.
#[derive(Default)]
pub struct Records {
    pub audit: Vec<Result<AuditRecord, (String, String)>>,
    pub not_audit: usize,
}

pub fn records(request: &ExportLogsServiceRequest) -> Records {
    let mut out = Records::default();
    for resource_logs in &request.resource_logs {
        let resource = resource_logs
            .resource
            .as_ref()
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        for scope_logs in &resource_logs.scope_logs {
            let scope = scope_logs.scope.as_ref();
            for record in &scope_logs.log_records {
                let mut attrs = attributes(&record.attributes);
                let Some(event_type) = attrs.remove("audit.event_type") else {
                    out.not_audit += 1;
                    continue;
                };
                let Value::String(event_type) = event_type else {
                    out.audit.push(Err((
                        as_json(record),
                        format!("audit.event_type must be a string, not {event_type}"),
                    )));
                    continue;
                };
                let mut otel = Map::new();
                otel.insert("resource".into(), Value::Object(resource.clone()));
                if let Some(s) = scope {
                    otel.insert(
                        "scope".into(),
                        json!({"name": s.name, "version": s.version}),
                    );
                }
                out.audit
                    .push(Ok(audit_line(record, event_type, attrs, otel)));
            }
        }
    }
    out
}

fn audit_line(
    record: &LogRecord,
    event_type: String,
    mut attrs: Map<String, Value>,
    mut otel: Map<String, Value>,
) -> AuditRecord {
    let trace_id = nonzero_hex(&record.trace_id);
    if let Some(t) = &trace_id {
        otel.insert("trace_id".into(), t.clone().into());
    }
    if let Some(s) = nonzero_hex(&record.span_id) {
        otel.insert("span_id".into(), s.into());
    }
    if !record.severity_text.is_empty() {
        otel.insert("severity_text".into(), record.severity_text.clone().into());
    }
    if record.severity_number != 0 {
        otel.insert("severity_number".into(), record.severity_number.into());
    }
    let mut ctx = Map::new();
    for (from, to) in [
        ("enduser.id", "user_id"),
        ("session.id", "session_id"),
        ("client.address", "ip_address"),
        ("user_agent.original", "user_agent"),
        ("audit.correlation_id", "correlation_id"),
        ("audit.parent_correlation_id", "parent_correlation_id"),
    ] {
        if let Some(v) = attrs.remove(from) {
            ctx.insert(to.into(), v);
        }
    }
    if let Some(t) = trace_id {
        ctx.entry("correlation_id").or_insert(t.into());
    }
    if let Some(body) = record.body.as_ref().and_then(any) {
        attrs.entry("message").or_insert(body);
    }
    attrs.insert("otel".into(), Value::Object(otel));
    let nanos = [record.time_unix_nano, record.observed_time_unix_nano]
        .into_iter()
        .find(|t| *t != 0);
    let mut line = Map::new();
    if let Some(id) = attrs.remove("audit.event_id") {
        line.insert("event_id".into(), id);
    }
    if let Some(ns) = nanos {
        let at = chrono::DateTime::from_timestamp_nanos(ns as i64);
        line.insert(
            "timestamp".into(),
            at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        );
    }
    line.insert("event_type".into(), event_type.into());
    line.insert("event_data".into(), Value::Object(attrs));
    if !ctx.is_empty() {
        line.insert("user_context".into(), Value::Object(ctx));
    }
    AuditRecord {
        line: Value::Object(line).to_string(),
        repeatable: nanos.is_some(),
    }
}

/// A record as it came, for the dead letters.
fn as_json(record: &LogRecord) -> String {
    json!({
        "time_unix_nano": record.time_unix_nano.to_string(),
        "trace_id": hex::encode(&record.trace_id),
        "span_id": hex::encode(&record.span_id),
        "severity_text": record.severity_text,
        "body": record.body.as_ref().and_then(any),
        "attributes": attributes(&record.attributes),
    })
    .to_string()
}

fn attributes(kvs: &[KeyValue]) -> Map<String, Value> {
    kvs.iter()
        .filter_map(|kv| Some((kv.key.clone(), kv.value.as_ref().and_then(any)?)))
        .collect()
}

/// An OTLP value as JSON: integers as numbers, bytes as base64; an empty value is left out.
fn any(v: &AnyValue) -> Option<Value> {
    Some(match v.value.as_ref()? {
        Any::StringValue(s) => s.clone().into(),
        Any::BoolValue(b) => (*b).into(),
        Any::IntValue(i) => (*i).into(),
        Any::DoubleValue(d) => (*d).into(),
        Any::ArrayValue(a) => a.values.iter().filter_map(any).collect(),
        Any::KvlistValue(l) => Value::Object(attributes(&l.values)),
        Any::BytesValue(b) => base64::engine::general_purpose::STANDARD.encode(b).into(),
        // Deduplicated string tables belong to the profiles signal, not logs.
        _ => return None,
    })
}

/// Lowercase hex of a trace or span id; `None` when absent or all zeros (OTLP's "no id").
fn nonzero_hex(id: &[u8]) -> Option<String> {
    id.iter().any(|b| *b != 0).then(|| hex::encode(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OTLP specification's own example (opentelemetry-proto examples/logs.json), with the
    /// audit attributes added to its record and a second record that is not an audit record.
    const EXAMPLE: &str = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},
      "scopeLogs":[{"scope":{"name":"my.library","version":"1.0.0"},
      "logRecords":[{"timeUnixNano":"1544712660300000000","observedTimeUnixNano":"1544712660300000000",
        "severityNumber":10,"severityText":"Information","traceId":"5B8EFFF798038103D269B633813FC60C",
        "spanId":"EEE19B7EC3C1B174","body":{"stringValue":"Example log record"},
        "attributes":[{"key":"audit.event_type","value":{"stringValue":"auth.login.success"}},
          {"key":"enduser.id","value":{"intValue":"42"}},
          {"key":"session.id","value":{"stringValue":"s-1"}},
          {"key":"client.address","value":{"stringValue":"10.1.2.3"}},
          {"key":"user_agent.original","value":{"stringValue":"curl/8"}},
          {"key":"int.attribute","value":{"intValue":10}},
          {"key":"array.attribute","value":{"arrayValue":{"values":[{"stringValue":"many"},{"boolValue":true}]}}},
          {"key":"map.attribute","value":{"kvlistValue":{"values":[{"key":"k","value":{"doubleValue":1.5}}]}}}]},
        {"timeUnixNano":"1544712660300000001","body":{"stringValue":"an ordinary log line"}}]}]}]}"#;

    #[test]
    fn the_specification_example_maps_to_an_audit_event() {
        let request = decode(EXAMPLE.as_bytes(), Encoding::Json).unwrap();
        let r = records(&request);
        assert_eq!(r.not_audit, 1);
        assert_eq!(r.audit.len(), 1);
        let AuditRecord { line, repeatable } = r.audit[0].as_ref().ok().unwrap();
        assert!(repeatable);
        let got: Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            got,
            json!({
                "timestamp": "2018-12-13T14:51:00.300000Z",
                "event_type": "auth.login.success",
                "user_context": {"user_id": 42, "session_id": "s-1", "ip_address": "10.1.2.3",
                                 "user_agent": "curl/8",
                                 "correlation_id": "5b8efff798038103d269b633813fc60c"},
                "event_data": {
                    "int.attribute": 10, "array.attribute": ["many", true],
                    "map.attribute": {"k": 1.5}, "message": "Example log record",
                    "otel": {"trace_id": "5b8efff798038103d269b633813fc60c",
                             "span_id": "eee19b7ec3c1b174", "severity_text": "Information",
                             "severity_number": 10, "resource": {"service.name": "my.service"},
                             "scope": {"name": "my.library", "version": "1.0.0"}}}
            })
        );
        // The line is one the shim's reader takes as it is.
        assert!(auditlog_core::ingest::parse_line(line).unwrap().is_some());
    }

    #[test]
    fn protobuf_and_json_give_the_same_lines() {
        let request = decode(EXAMPLE.as_bytes(), Encoding::Json).unwrap();
        let again = decode(&request.encode_to_vec(), Encoding::Protobuf).unwrap();
        let lines = |r: &ExportLogsServiceRequest| -> Vec<String> {
            records(r)
                .audit
                .into_iter()
                .map(|a| a.ok().unwrap().line)
                .collect()
        };
        assert_eq!(lines(&request), lines(&again));
    }

    #[test]
    fn explicit_ids_win_and_a_record_without_a_time_is_not_repeatable() {
        let body = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"5B8EFFF798038103D269B633813FC60C",
          "attributes":[{"key":"audit.event_type","value":{"stringValue":"data.read"}},
            {"key":"audit.correlation_id","value":{"stringValue":"CORR_CHILD"}},
            {"key":"audit.parent_correlation_id","value":{"stringValue":"CORR_PARENT"}},
            {"key":"audit.event_id","value":{"stringValue":"0193a0c4-0000-7000-8000-000000000001"}}]},
          {"attributes":[{"key":"audit.event_type","value":{"intValue":"3"}}]}]}]}]}"#;
        let r = records(&decode(body.as_bytes(), Encoding::Json).unwrap());
        let first = r.audit[0].as_ref().ok().unwrap();
        assert!(!first.repeatable);
        let got: Value = serde_json::from_str(&first.line).unwrap();
        assert_eq!(got["event_id"], "0193a0c4-0000-7000-8000-000000000001");
        assert_eq!(
            got["user_context"],
            json!({"correlation_id": "CORR_CHILD", "parent_correlation_id": "CORR_PARENT"})
        );
        let (_, why) = r.audit[1].as_ref().err().unwrap();
        assert_eq!(why, "audit.event_type must be a string, not 3");
    }

    #[test]
    fn bad_bodies_say_what_they_are_not() {
        assert!(decode(b"\xff\x00", Encoding::Protobuf)
            .unwrap_err()
            .contains("protobuf"));
        assert!(decode(b"{\"resourceLogs\": 3}", Encoding::Json)
            .unwrap_err()
            .contains("JSON"));
    }

    #[test]
    fn answers_carry_a_partial_success_only_when_needed() {
        assert_eq!(response(0, &[], Encoding::Json), b"{}");
        let a: Value =
            serde_json::from_slice(&response(2, &["x".into(), "y".into()], Encoding::Json))
                .unwrap();
        assert_eq!(
            a,
            json!({"partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "x; y"}})
        );
    }
}
