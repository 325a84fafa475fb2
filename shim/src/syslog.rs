//! RFC 5424 syslog lines: facility authpriv, the event type as MSGID, and the event's place in the
//! log and its identity as structured data (SD-ID auditlog@32473: 32473 is the private enterprise
//! number RFC 5612 reserves for documentation; set your own with --sd-id).

use crate::exported::Exported;

/// Facility 10, security/authorization messages (authpriv).
const FACILITY: u32 = 10;

/// A PARAM-VALUE: '"', '\' and ']' escaped (RFC 5424 section 6.3.3).
fn param(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(']', "\\]")
}

/// A header field: printable US-ASCII without spaces, at most `max` characters, else "-".
fn header(v: Option<&str>, max: usize) -> String {
    match v {
        Some(v)
            if !v.is_empty() && v.len() <= max && v.bytes().all(|b| (33..=126).contains(&b)) =>
        {
            v.to_string()
        }
        _ => "-".into(),
    }
}

/// PRI, VERSION, TIMESTAMP, HOSTNAME, APP-NAME, PROCID and MSGID.
fn head(e: &Exported, hostname: &str) -> String {
    format!(
        "<{}>1 {} {} auditlog - {}",
        FACILITY * 8 + e.severity_codes().1,
        header(e.text("timestamp"), 128),
        header(Some(hostname), 255),
        header(e.text("event_type"), 32),
    )
}

/// A message with no structured data that carries `msg`: a CEF line, as SIEMs take CEF over
/// syslog.
pub fn carrying(e: &Exported, hostname: &str, msg: &str) -> String {
    format!("{} - {msg}", head(e, hostname))
}

pub fn render(e: &Exported, hostname: &str, sd_id: &str) -> String {
    let mut sd = format!(
        "[{sd_id} position=\"{}\" tree_size=\"{}\" integrity_hash=\"{}\" event_id=\"{}\"",
        e.position,
        e.tree_size,
        param(e.text("integrity_hash").unwrap_or("")),
        param(e.text("event_id").unwrap_or(""))
    );
    let optional = [
        (
            "correlation_id",
            e.text("correlation_id").map(str::to_owned),
        ),
        ("user_id", e.user()),
        ("session_id", e.text("session_id").map(str::to_owned)),
        ("ip_address", e.text("ip_address").map(str::to_owned)),
        ("severity", Some(e.severity().to_owned())),
        ("risk_score", Some(e.risk_score().to_string())),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            sd.push_str(&format!(" {k}=\"{}\"", param(&v)));
        }
    }
    sd.push(']');
    let data = e
        .row
        .get("event_data")
        .map_or("{}".into(), |d| d.to_string());
    format!("{} {sd} {data}", head(e, hostname))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cef_line_is_carried_as_the_message() {
        let e = crate::exported::sample();
        assert_eq!(
            carrying(&e, "db1", "CEF:0|x"),
            "<84>1 2026-11-30T21:31:29.07211+00:00 db1 auditlog - auth.login.failure - CEF:0|x"
        );
    }

    #[test]
    fn a_line_with_escaped_structured_data() {
        let line = render(&crate::exported::sample(), "db1", "auditlog@32473");
        assert!(
            line.starts_with("<84>1 2026-11-30T21:31:29.07211+00:00 db1 auditlog - auth.login.failure [auditlog@32473 position=\"42\" tree_size=\"50\""),
            "{line}"
        );
        assert!(line.contains(" user_id=\"7\" "), "{line}");
        assert!(
            line.ends_with(r#"] {"reason":"bad password | \"x\" = y\n]"}"#),
            "{line}"
        );
        assert_eq!(param(r#"a"b\c]"#), r#"a\"b\\c\]"#);
        assert_eq!(header(Some("a b"), 32), "-");
    }
}
