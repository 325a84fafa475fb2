//! The DBA's lookup functions (user, session, resource context): what one answered, and the
//! per-backend cache that keeps repeated events from asking again.
//!
//! An answer is kept for `ttl` (a setting), and in any case for the rest of the statement that
//! asked, so a batch asks once per key. Failures are kept as long as answers: a lookup that times
//! out costs its timeout once per key and period, not once per event.

use serde_json::Value;
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Found(Value),
    NotFound,
    /// The lookup raised an error or timed out: the event is stored without it, the reason in
    /// its `context_errors`.
    Failed(String),
}

impl Answer {
    /// A function's result: SQL NULL or JSON null is "not found".
    pub fn from_result(v: Option<Value>) -> Answer {
        match v {
            None | Some(Value::Null) => Answer::NotFound,
            Some(v) => Answer::Found(v),
        }
    }
}

/// Entries kept at most; beyond it the expired go first, then everything.
const CAPACITY: usize = 10_000;

struct Entry {
    answer: Answer,
    expires_us: i64,
    statement: i64,
}

#[derive(Default)]
pub struct Cache {
    entries: HashMap<String, Entry>,
}

/// One string for a call: NUL separates the parts, since neither a setting nor a text argument
/// can hold it.
fn key(function: &str, args: &[&str]) -> String {
    let mut key = function.to_string();
    for a in args {
        key.push('\0');
        key.push_str(a);
    }
    key
}

impl Cache {
    /// The kept answer of `function` for `args`, if still valid at `now_us` or asked in
    /// `statement` (an id of the current statement, such as its start time).
    pub fn get(
        &self,
        function: &str,
        args: &[&str],
        now_us: i64,
        statement: i64,
    ) -> Option<&Answer> {
        self.entries
            .get(&key(function, args))
            .filter(|e| now_us < e.expires_us || e.statement == statement)
            .map(|e| &e.answer)
    }

    pub fn put(
        &mut self,
        function: &str,
        args: &[&str],
        answer: Answer,
        now_us: i64,
        ttl_us: i64,
        statement: i64,
    ) {
        if self.entries.len() >= CAPACITY {
            self.entries
                .retain(|_, e| now_us < e.expires_us || e.statement == statement);
            if self.entries.len() >= CAPACITY {
                self.entries.clear();
            }
        }
        self.entries.insert(
            key(function, args),
            Entry {
                answer,
                expires_us: now_us.saturating_add(ttl_us),
                statement,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kept_for_the_ttl_or_the_statement() {
        let mut c = Cache::default();
        c.put("f", &["1"], Answer::Found(json!({"a": 1})), 1_000, 500, 7);
        assert_eq!(
            c.get("f", &["1"], 1_499, 8),
            Some(&Answer::Found(json!({"a": 1})))
        );
        assert_eq!(c.get("f", &["1"], 1_500, 8), None);
        assert!(c.get("f", &["1"], 9_999, 7).is_some());
        assert_eq!(c.get("f", &["2"], 1_000, 7), None);
        assert_eq!(c.get("g", &["1"], 1_000, 7), None);
        // Arguments are not joined into one string: ("a", "b,c") is not ("a,b", "c").
        c.put("r", &["a", "b,c"], Answer::NotFound, 0, 10, 0);
        assert_eq!(c.get("r", &["a,b", "c"], 0, 0), None);
        // A TTL of zero keeps an answer for its statement only.
        c.put("f", &["3"], Answer::Failed("slow".into()), 1_000, 0, 9);
        assert!(c.get("f", &["3"], 1_000, 9).is_some());
        assert!(c.get("f", &["3"], 1_000, 10).is_none());
    }

    #[test]
    fn bounded() {
        let mut c = Cache::default();
        for i in 0..CAPACITY + 10 {
            c.put("f", &[&i.to_string()], Answer::NotFound, 0, 1_000, 0);
        }
        assert!(c.entries.len() <= CAPACITY);
        assert!(c.get("f", &[&(CAPACITY + 9).to_string()], 0, 0).is_some());
    }

    #[test]
    fn null_is_not_found() {
        assert_eq!(Answer::from_result(None), Answer::NotFound);
        assert_eq!(Answer::from_result(Some(Value::Null)), Answer::NotFound);
        assert_eq!(
            Answer::from_result(Some(json!({}))),
            Answer::Found(json!({}))
        );
    }
}
