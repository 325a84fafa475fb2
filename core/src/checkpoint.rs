//! What a checkpoint (c2sp.org/tlog-checkpoint) says about the log: its origin, the tree size and
//! the root. The shim signs and checks the notes; the database keeps copies and names itself.

use tlog_tiles::Hash;

/// The origin a database's log gets unless `auditlog.log_origin` names it: unique per cluster
/// (its system identifier) and database, in the shape of a schema-less URL.
pub fn default_origin(system_identifier: u64, database: &str) -> String {
    let mut db = String::with_capacity(database.len());
    for b in database.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            db.push(b as char);
        } else {
            db.push_str(&format!("%{b:02X}"));
        }
    }
    format!("auditlog/{system_identifier}/{db}")
}

/// An origin is one line, and also serves as a note key name: no spaces and no '+'.
pub fn check_origin(origin: &str) -> Result<(), String> {
    if origin.is_empty() || origin.len() > 255 {
        return Err("an origin has 1 to 255 bytes".into());
    }
    if origin
        .chars()
        .any(|c| c.is_whitespace() || c == '+' || c.is_control())
    {
        return Err("an origin has no spaces, control characters or '+'".into());
    }
    Ok(())
}

/// The checkpoint in a signed note: its body is everything before the last blank line, as
/// signed_note and Go's sumdb/note read it.
pub fn parse_note(note: &str) -> Result<(String, u64, Hash), String> {
    let body = note
        .rsplit_once("\n\n")
        .map(|(b, _)| format!("{b}\n"))
        .ok_or("not a signed note: no blank line before the signatures")?;
    let c = tlog_tiles::Checkpoint::from_bytes(body.as_bytes())
        .map_err(|_| "not a c2sp.org/tlog-checkpoint: origin, size and base64 root lines")?;
    Ok((c.origin().to_string(), c.size(), *c.hash()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_origins_are_valid_and_distinct() {
        let a = default_origin(7312345678901234567, "app");
        assert_eq!(a, "auditlog/7312345678901234567/app");
        let b = default_origin(7312345678901234567, "my db+x/ü");
        assert_eq!(b, "auditlog/7312345678901234567/my%20db%2Bx%2F%C3%BC");
        check_origin(&a).unwrap();
        check_origin(&b).unwrap();
        assert!(check_origin("a b").is_err());
        assert!(check_origin("a+b").is_err());
        assert!(check_origin("").is_err());
    }

    #[test]
    fn notes_are_read() {
        let root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        let note = format!("example.com/log\n42\n{root}\n\n— example.com/log AAAA\n");
        let (o, n, h) = parse_note(&note).unwrap();
        assert_eq!((o.as_str(), n), ("example.com/log", 42));
        assert_eq!(h, tlog_tiles::EMPTY_HASH);
        assert!(parse_note("example.com/log\n42\n").is_err());
        assert!(parse_note(&format!("example.com/log\nx\n{root}\n\n— k AAAA\n")).is_err());
    }
}
