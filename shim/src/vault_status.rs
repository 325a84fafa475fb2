//! `vault-status`: per source of an audit vault (docs/scaling.md), whether it is receiving, how
//! far behind its source it is, how far what it holds is verified, and any break.

use anyhow::{Context, Result};
use tokio_postgres::Client;

/// One subscription of a vault database, as `audit.vault_status` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub name: String,
    pub origin: Option<String>,
    pub enabled: bool,
    pub receiving: bool,
    pub last_received_at: Option<String>,
    pub apply_errors: i64,
    pub held_size: i64,
    pub verified_size: i64,
    pub waiting_events: i64,
    pub oldest_waiting: Option<String>,
    pub last_break: Option<String>,
}

const STATUS: &str =
    "SELECT subscription::text, origin, enabled, receiving, last_received_at::text,
        apply_errors, held_size, verified_size, waiting_events, oldest_waiting::text, last_break
   FROM audit.vault_status ORDER BY subscription";

pub async fn subscriptions(vault: &Client) -> Result<Vec<Subscription>> {
    let rows = vault
        .query(STATUS, &[])
        .await
        .context("reading audit.vault_status (is this a vault database with auditlog 0.4.0?)")?;
    Ok(rows
        .iter()
        .map(|r| Subscription {
            name: r.get(0),
            origin: r.get(1),
            enabled: r.get(2),
            receiving: r.get(3),
            last_received_at: r.get(4),
            apply_errors: r.get(5),
            held_size: r.get(6),
            verified_size: r.get(7),
            waiting_events: r.get(8),
            oldest_waiting: r.get(9),
            last_break: r.get(10),
        })
        .collect())
}

/// What one line says about a subscription, and whether it is a break that needs a person:
/// stopped, or refusing what its source sent. `source_size` is the source's tree size now, when
/// it was asked.
pub fn describe(s: &Subscription, source_size: Option<i64>) -> (String, bool) {
    let state = match (s.enabled, s.receiving) {
        (false, _) => "STOPPED",
        (true, false) => "not receiving",
        (true, true) => "receiving",
    };
    let mut line = format!(
        "{} ({}): {state}; holds {} sealed events, verified up to {}",
        s.name,
        s.origin.as_deref().unwrap_or("no origin yet"),
        s.held_size,
        s.verified_size
    );
    if let Some(size) = source_size {
        match size - s.held_size {
            0 => line.push_str("; caught up with its source"),
            n if n > 0 => line.push_str(&format!("; {n} sealed events behind its source ({size})")),
            _ => line.push_str(&format!(
                "; holds more than its source's tree ({size}): the source lost sealed events"
            )),
        }
    }
    if s.waiting_events > 0 {
        line.push_str(&format!(
            "; {} events wait for the source's next seal (oldest {})",
            s.waiting_events,
            s.oldest_waiting.as_deref().unwrap_or("?")
        ));
    }
    if let Some(at) = &s.last_received_at {
        line.push_str(&format!("; last message {at}"));
    }
    // Every seal is verified in the transaction that lands it: what is held but not verified
    // came by the initial copy and waits for check_received_seals(), or bypassed the check.
    if s.held_size > s.verified_size {
        line.push_str(&format!(
            "; UNVERIFIED: {} sealed events held but not verified (SELECT audit.check_received_seals())",
            s.held_size - s.verified_size
        ));
    }
    let mut broken = !s.enabled || s.held_size > s.verified_size;
    if let Some(why) = &s.last_break {
        line.push_str(&format!("; BREAK: {why}"));
        broken = true;
    } else if !s.enabled {
        line.push_str(&format!(
            "; stopped after {} apply error(s): the vault's server log names the conflict",
            s.apply_errors
        ));
    }
    if source_size.is_some_and(|size| size < s.held_size) {
        broken = true;
    }
    (line, broken)
}

/// Reports every subscription of each vault database (`sources[i]`, when given, is the source
/// of `vaults[i]`). Returns whether any is broken.
pub async fn report(vaults: &[(String, Client)], sources: &[Option<Client>]) -> Result<bool> {
    let mut broken = false;
    for (i, (url, vault)) in vaults.iter().enumerate() {
        let subs = subscriptions(vault).await?;
        if subs.is_empty() {
            println!("{url}: no subscription: not receiving any source");
            broken = true;
        }
        let source_size = match sources.get(i).and_then(Option::as_ref) {
            Some(source) => Some(
                source
                    .query_one("SELECT tree_size FROM audit_tree_head()", &[])
                    .await
                    .context("reading the source's tree head")?
                    .get::<_, i64>(0),
            ),
            None => None,
        };
        for s in &subs {
            let (line, b) = describe(s, source_size);
            println!("{line}");
            broken |= b;
        }
    }
    Ok(broken)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Subscription {
        Subscription {
            name: "vault_a".into(),
            origin: Some("auditlog/1/app".into()),
            enabled: true,
            receiving: true,
            last_received_at: None,
            apply_errors: 0,
            held_size: 10,
            verified_size: 10,
            waiting_events: 0,
            oldest_waiting: None,
            last_break: None,
        }
    }

    #[test]
    fn caught_up_behind_and_broken() {
        let (line, broken) = describe(&healthy(), Some(10));
        assert!(
            line.contains("receiving") && line.contains("caught up"),
            "{line}"
        );
        assert!(!broken);
        let (line, broken) = describe(&healthy(), Some(25));
        assert!(line.contains("15 sealed events behind"), "{line}");
        assert!(!broken);
        let unverified = Subscription {
            verified_size: 6,
            ..healthy()
        };
        let (line, broken) = describe(&unverified, Some(10));
        assert!(line.contains("UNVERIFIED: 4"), "{line}");
        assert!(broken);
        let (line, broken) = describe(&healthy(), Some(4));
        assert!(line.contains("source lost sealed events"), "{line}");
        assert!(broken);
        let stopped = Subscription {
            enabled: false,
            receiving: false,
            apply_errors: 1,
            last_break: Some("batch 3 from the source does not verify".into()),
            ..healthy()
        };
        let (line, broken) = describe(&stopped, None);
        assert!(
            line.contains("STOPPED") && line.contains("BREAK: batch 3"),
            "{line}"
        );
        assert!(broken);
        let conflict = Subscription {
            last_break: None,
            ..stopped
        };
        let (line, broken) = describe(&conflict, None);
        assert!(line.contains("server log"), "{line}");
        assert!(broken);
    }
}
