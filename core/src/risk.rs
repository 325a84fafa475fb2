//! Risk score 0-100, as the seed's `_calculate_risk_score` computes it, but from the event's own
//! category and severity (the seed reads them before it has assigned them).

/// Base score by category; a category the seed does not name scores 20, as in the seed.
pub fn category_base(category: &str) -> u32 {
    match category {
        "authentication" => 20,
        "authorization" => 30,
        "data_access" => 40,
        "encryption" => 50,
        "privacy" => 60,
        "security" => 80,
        "system" => 10,
        _ => 20,
    }
}

/// The seed's severity multiplier, in tenths so that truncation matches Python's `int()` exactly.
fn severity_multiplier_tenths(severity: &str) -> u32 {
    match severity {
        "warning" => 15,
        "error" => 20,
        "critical" => 30,
        _ => 10,
    }
}

/// What raises an event's risk beyond its category.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RiskFactors {
    /// The account is known to be younger than 30 days.
    pub new_account: bool,
    /// The user holds the `admin` role.
    pub admin: bool,
    /// The event came from an address outside the internal networks (or one that does not parse).
    pub external_ip: bool,
    /// The event came from another address than the one its session was opened from.
    pub session_ip_mismatch: bool,
}

pub const NEW_ACCOUNT_DAYS: i64 = 30;

pub fn risk_score(category: &str, severity: &str, f: RiskFactors) -> i32 {
    let mut sum = category_base(category);
    if f.new_account {
        sum += 10;
    }
    if f.admin {
        sum += 15;
    }
    if f.external_ip {
        sum += 20;
    }
    // As much as a new account: a session moving between addresses is how a stolen session
    // looks, and also how a phone changing networks looks.
    if f.session_ip_mismatch {
        sum += 10;
    }
    (sum * severity_multiplier_tenths(severity) / 10).min(100) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: RiskFactors = RiskFactors {
        new_account: false,
        admin: false,
        external_ip: false,
        session_ip_mismatch: false,
    };

    #[test]
    fn table_of_cases() {
        let all = RiskFactors {
            new_account: true,
            admin: true,
            external_ip: true,
            session_ip_mismatch: true,
        };
        let cases: &[(&str, &str, RiskFactors, i32)] = &[
            ("authentication", "info", NONE, 20),
            ("authorization", "info", NONE, 30),
            ("data_access", "info", NONE, 40),
            ("encryption", "info", NONE, 50),
            ("privacy", "info", NONE, 60),
            ("security", "info", NONE, 80),
            ("system", "info", NONE, 10),
            ("made_up", "info", NONE, 20),
            (
                "system",
                "info",
                RiskFactors {
                    new_account: true,
                    ..NONE
                },
                20,
            ),
            (
                "system",
                "info",
                RiskFactors {
                    admin: true,
                    ..NONE
                },
                25,
            ),
            (
                "system",
                "info",
                RiskFactors {
                    external_ip: true,
                    ..NONE
                },
                30,
            ),
            (
                "system",
                "info",
                RiskFactors {
                    session_ip_mismatch: true,
                    ..NONE
                },
                20,
            ),
            ("system", "info", all, 65),
            // warning x1.5 truncates: (20 + 15) * 1.5 = 52.5 -> 52
            (
                "authentication",
                "warning",
                RiskFactors {
                    admin: true,
                    ..NONE
                },
                52,
            ),
            ("authentication", "error", NONE, 40),
            ("authentication", "critical", NONE, 60),
            ("authentication", "unheard_of", NONE, 20),
            // capped at 100
            ("security", "critical", NONE, 100),
            ("data_access", "warning", all, 100),
            (
                "data_access",
                "warning",
                RiskFactors {
                    external_ip: true,
                    ..NONE
                },
                90,
            ),
        ];
        for (cat, sev, f, want) in cases {
            assert_eq!(risk_score(cat, sev, *f), *want, "{cat} {sev} {f:?}");
        }
    }
}
