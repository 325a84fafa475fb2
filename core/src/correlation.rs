//! Correlation ids in the seed's formats.

/// `CORR_{unix seconds}_{user or "anonymous"}_{8 random hex}`, as the seed's
/// `AuditEvent._generate_correlation_id`.
pub fn generate(unix_seconds: i64, user: Option<&str>) -> String {
    format!(
        "CORR_{unix_seconds}_{}_{}",
        user.unwrap_or("anonymous"),
        random_hex8()
    )
}

/// A correlation context's id, as the seed's `CorrelationIDManager.generate_correlation_id`:
/// `CORR_{unix seconds}_{8 random hex}_root` when opened outside any context, and
/// `CORR_{unix seconds}_{8 random hex}_{operation_type}` for a child.
pub fn generate_for_context(unix_seconds: i64, child_operation: Option<&str>) -> String {
    format!(
        "CORR_{unix_seconds}_{}_{}",
        random_hex8(),
        child_operation.unwrap_or("root")
    )
}

fn random_hex8() -> String {
    let mut hex = uuid::Uuid::new_v4().simple().to_string();
    hex.truncate(8);
    hex
}

#[cfg(test)]
mod tests {
    fn is_hex8(s: &str) -> bool {
        s.len() == 8 && s.chars().all(|c| c.is_ascii_hexdigit())
    }

    #[test]
    fn seed_format() {
        let id = super::generate(1_700_000_000, Some("42"));
        let parts: Vec<&str> = id.split('_').collect();
        assert_eq!(parts[..3], ["CORR", "1700000000", "42"]);
        assert!(is_hex8(parts[3]));
        assert!(super::generate(1, None).starts_with("CORR_1_anonymous_"));
        assert_ne!(super::generate(1, None), super::generate(1, None));
    }

    #[test]
    fn context_format() {
        let root = super::generate_for_context(1_700_000_000, None);
        let parts: Vec<&str> = root.split('_').collect();
        assert_eq!(
            (parts[0], parts[1], parts[3]),
            ("CORR", "1700000000", "root")
        );
        assert!(is_hex8(parts[2]), "{root}");
        // The operation type is the tail, whatever underscores it has.
        let child = super::generate_for_context(5, Some("db_query"));
        assert!(
            child.starts_with("CORR_5_") && child.ends_with("_db_query"),
            "{child}"
        );
        assert!(is_hex8(&child["CORR_5_".len()..][..8]), "{child}");
        assert_ne!(child, super::generate_for_context(5, Some("db_query")));
    }
}
