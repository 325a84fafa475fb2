//! Correlation ids in the seed's format.

/// `CORR_{unix seconds}_{user or "anonymous"}_{8 random hex}`, as the seed's
/// `AuditEvent._generate_correlation_id`.
pub fn generate(unix_seconds: i64, user: Option<&str>) -> String {
    let rand = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "CORR_{unix_seconds}_{}_{}",
        user.unwrap_or("anonymous"),
        &rand[..8]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_format() {
        let id = super::generate(1_700_000_000, Some("42"));
        let parts: Vec<&str> = id.split('_').collect();
        assert_eq!(parts[..3], ["CORR", "1700000000", "42"]);
        assert_eq!(parts[3].len(), 8);
        assert!(parts[3].chars().all(|c| c.is_ascii_hexdigit()));
        assert!(super::generate(1, None).starts_with("CORR_1_anonymous_"));
        assert_ne!(super::generate(1, None), super::generate(1, None));
    }
}
