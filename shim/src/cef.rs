//! ArcSight CEF (Common Event Format) lines: `CEF:0|Vendor|Product|Version|SignatureID|Name|
//! Severity|Extension`, the event type as the signature, the event's place in the log in custom
//! number and string fields.

use crate::exported::Exported;

/// A header field: '\' and '|' escaped, no line breaks.
fn header(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

/// An extension value: '\' and '=' escaped, line breaks as \n and \r.
fn value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

pub fn render(e: &Exported) -> String {
    let event_type = e.text("event_type").unwrap_or("");
    let name = e
        .class("subcategory")
        .and_then(|v| v.as_str())
        .unwrap_or(event_type);
    let mut ext = vec![
        ("rt", e.time_ms().to_string()),
        ("externalId", e.text("event_id").unwrap_or("").to_owned()),
        (
            "cat",
            e.class("category")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned(),
        ),
        (
            "outcome",
            (if e.failed() { "failure" } else { "success" }).to_owned(),
        ),
        ("cn1Label", "position".into()),
        ("cn1", e.position.to_string()),
        ("cn2Label", "tree_size".into()),
        ("cn2", e.tree_size.to_string()),
        ("cn3Label", "risk_score".into()),
        ("cn3", e.risk_score().to_string()),
        ("cs1Label", "correlation_id".into()),
        ("cs1", e.text("correlation_id").unwrap_or("").to_owned()),
        ("cs2Label", "integrity_hash".into()),
        ("cs2", e.text("integrity_hash").unwrap_or("").to_owned()),
    ];
    let optional = [
        ("suser", e.user()),
        ("src", e.text("ip_address").map(str::to_owned)),
        (
            "requestClientApplication",
            e.text("user_agent").map(str::to_owned),
        ),
        (
            "cs3Label",
            e.text("session_id").map(|_| "session_id".to_owned()),
        ),
        ("cs3", e.text("session_id").map(str::to_owned)),
        ("msg", e.row.get("event_data").map(|d| d.to_string())),
    ];
    ext.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    let ext: Vec<String> = ext
        .iter()
        .map(|(k, v)| format!("{k}={}", value(v)))
        .collect();
    format!(
        "CEF:0|auditlog|auditlog|{}|{}|{}|{}|{}",
        header(env!("CARGO_PKG_VERSION")),
        header(event_type),
        header(name),
        e.severity_codes().2,
        ext.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_with_escaped_extension() {
        let line = render(&crate::exported::sample());
        assert!(line.starts_with("CEF:0|auditlog|auditlog|"), "{line}");
        assert!(
            line.contains("|auth.login.failure|login_failure|5|rt=1796074289072 "),
            "{line}"
        );
        assert!(
            line.contains(" cn1=42 ") && line.contains(" cn2=50 ") && line.contains(" suser=7 "),
            "{line}"
        );
        assert!(
            line.ends_with(r#"msg={"reason":"bad password | \\"x\\" \= y\\n]"}"#),
            "{line}"
        );
        assert_eq!(header("a|b\\c"), "a\\|b\\\\c");
    }
}
