//! The DBA's lookup functions (user, session, resource context): what one answered, and the
//! per-backend cache that keeps repeated events from asking again.
//!
//! An answer is kept for `ttl` (a setting), and in any case for the rest of the statement that
//! asked, so a batch asks once per key. A session asks its own cache first, then the one every
//! session shares (`SharedEntry`), so a new session asks the function only what no session
//! asked within the TTL. Failures are kept as long as answers: a lookup that times
//! out costs its timeout once per key and period, not once per event.

use serde_json::Value;
use std::collections::HashMap;
use std::rc::Rc;

/// Cloned from the cache for every event that asks: a found answer is shared, not copied.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Found(Rc<Value>),
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
            Some(v) => Answer::Found(Rc::new(v)),
        }
    }
}

/// Entries kept at most; beyond it the expired go first, then everything.
const CAPACITY: usize = 10_000;

/// One call of a lookup function, as one string: NUL separates the function and its arguments,
/// since neither a setting nor a text argument can hold it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Call(String);

impl Call {
    pub fn new(function: &str, args: &[&str]) -> Call {
        let mut key = function.to_string();
        for a in args {
            key.push('\0');
            key.push_str(a);
        }
        Call(key)
    }
}

struct Entry {
    answer: Answer,
    expires_us: i64,
    statement: i64,
}

/// The session's own cache, asked first.
#[derive(Default)]
pub struct Cache {
    entries: HashMap<Call, Entry>,
}

impl Cache {
    /// The kept answer of `call`, if still valid at `now_us` or asked in `statement` (an id of
    /// the current statement, such as its start time).
    pub fn get(&self, call: &Call, now_us: i64, statement: i64) -> Option<&Answer> {
        self.entries
            .get(call)
            .filter(|e| now_us < e.expires_us || e.statement == statement)
            .map(|e| &e.answer)
    }

    /// Keeps `answer` until `expires_us`, and in any case for `statement`.
    pub fn put(
        &mut self,
        call: Call,
        answer: Answer,
        now_us: i64,
        expires_us: i64,
        statement: i64,
    ) {
        if self.entries.len() >= CAPACITY {
            self.entries
                .retain(|_, e| now_us < e.expires_us || e.statement == statement);
            if self.entries.len() >= CAPACITY {
                self.entries.clear();
            }
        }
        let entry = Entry {
            answer,
            expires_us,
            statement,
        };
        self.entries.insert(call, entry);
    }
}

/// Bytes for a call and its answer together in a shared entry; a longer pair stays in the
/// session's cache only.
pub const SHARED_BYTES: usize = 472;
const NOT_FOUND: u16 = u16::MAX;

/// One answer in the cache every session of the server shares (shared memory), so a session
/// asks only what no other asked within the TTL. Plain bytes: it is copied in and out under a
/// lock. Failures are not shared: they are this session's to report.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SharedEntry {
    /// Of the database and the call; 0 for an empty entry.
    hash: u64,
    expires_us: i64,
    database: u32,
    call_len: u16,
    /// The answer's JSON text length, or NOT_FOUND.
    answer_len: u16,
    bytes: [u8; SHARED_BYTES],
}

impl SharedEntry {
    pub const EMPTY: SharedEntry = SharedEntry {
        hash: 0,
        expires_us: i64::MIN,
        database: 0,
        call_len: 0,
        answer_len: 0,
        bytes: [0; SHARED_BYTES],
    };

    /// Where `call` in `database` lives: its entry is one of a few probed from this hash
    /// (never 0, which marks an empty entry). Stable across the server's processes.
    pub fn hash(database: u32, call: &Call) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (database, call).hash(&mut h);
        h.finish().max(1)
    }

    /// An entry for `answer`; None when it is a failure or too long to share.
    pub fn new(
        hash: u64,
        database: u32,
        call: &Call,
        answer: &Answer,
        expires_us: i64,
    ) -> Option<SharedEntry> {
        let json = match answer {
            Answer::Found(v) => v.to_string(),
            Answer::NotFound => String::new(),
            Answer::Failed(_) => return None,
        };
        let (c, j) = (call.0.as_bytes(), json.as_bytes());
        if c.len() + j.len() > SHARED_BYTES {
            return None;
        }
        let mut e = SharedEntry {
            hash,
            expires_us,
            database,
            call_len: c.len() as u16,
            answer_len: if matches!(answer, Answer::NotFound) {
                NOT_FOUND
            } else {
                j.len() as u16
            },
            ..SharedEntry::EMPTY
        };
        e.bytes[..c.len()].copy_from_slice(c);
        e.bytes[c.len()..c.len() + j.len()].copy_from_slice(j);
        Some(e)
    }

    /// Whether this entry holds `call` in `database`, live or not.
    pub fn holds(&self, hash: u64, database: u32, call: &Call) -> bool {
        self.hash == hash
            && self.database == database
            && &self.bytes[..self.call_len as usize] == call.0.as_bytes()
    }

    /// The answer and when it expires, if this entry holds `call` and is live at `now_us`.
    pub fn answer(
        &self,
        hash: u64,
        database: u32,
        call: &Call,
        now_us: i64,
    ) -> Option<(Answer, i64)> {
        if !self.holds(hash, database, call) || now_us >= self.expires_us {
            return None;
        }
        let answer = if self.answer_len == NOT_FOUND {
            Answer::NotFound
        } else {
            let at = self.call_len as usize;
            let json = &self.bytes[at..at + self.answer_len as usize];
            Answer::Found(Rc::new(serde_json::from_slice(json).ok()?))
        };
        Some((answer, self.expires_us))
    }
}

/// Which of the probed `entries` takes `call`'s new answer: the one holding it, else an empty
/// or expired one, else the one that expires first.
pub fn shared_slot<'a>(
    entries: impl Iterator<Item = &'a SharedEntry>,
    hash: u64,
    database: u32,
    call: &Call,
) -> Option<usize> {
    let mut best: Option<(usize, i64)> = None;
    for (i, e) in entries.enumerate() {
        if e.holds(hash, database, call) {
            return Some(i);
        }
        // An expired entry expired before any live one will.
        let rank = if e.hash == 0 { i64::MIN } else { e.expires_us };
        if best.is_none_or(|(_, r)| rank < r) {
            best = Some((i, rank));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kept_for_the_ttl_or_the_statement() {
        let mut c = Cache::default();
        let f1 = Call::new("f", &["1"]);
        c.put(
            f1.clone(),
            Answer::Found(Rc::new(json!({"a": 1}))),
            1_000,
            1_500,
            7,
        );
        assert_eq!(
            c.get(&f1, 1_499, 8),
            Some(&Answer::Found(Rc::new(json!({"a": 1}))))
        );
        assert_eq!(c.get(&f1, 1_500, 8), None);
        assert!(c.get(&f1, 9_999, 7).is_some());
        assert_eq!(c.get(&Call::new("f", &["2"]), 1_000, 7), None);
        assert_eq!(c.get(&Call::new("g", &["1"]), 1_000, 7), None);
        // Arguments are not joined into one string: ("a", "b,c") is not ("a,b", "c").
        c.put(Call::new("r", &["a", "b,c"]), Answer::NotFound, 0, 10, 0);
        assert_eq!(c.get(&Call::new("r", &["a,b", "c"]), 0, 0), None);
        // Expired on arrival (a TTL of zero): kept for its statement only.
        let f3 = Call::new("f", &["3"]);
        c.put(f3.clone(), Answer::Failed("slow".into()), 1_000, 1_000, 9);
        assert!(c.get(&f3, 1_000, 9).is_some());
        assert!(c.get(&f3, 1_000, 10).is_none());
    }

    #[test]
    fn shared_entries_round_trip_and_never_confuse_calls() {
        let call = Call::new("f", &["a"]);
        let h = SharedEntry::hash(5, &call);
        let found = Answer::Found(Rc::new(json!({"owner": "team_5", "n": [1, 2.5]})));
        let e = SharedEntry::new(h, 5, &call, &found, 100).unwrap();
        assert_eq!(e.answer(h, 5, &call, 99), Some((found, 100)));
        assert_eq!(e.answer(h, 5, &call, 100), None, "expired");
        assert_eq!(e.answer(h, 6, &call, 0), None, "another database");
        let other = Call::new("f", &["b"]);
        assert_eq!(e.answer(h, 5, &other, 0), None, "same hash, other call");
        let none = SharedEntry::new(h, 5, &call, &Answer::NotFound, 100).unwrap();
        assert_eq!(none.answer(h, 5, &call, 0), Some((Answer::NotFound, 100)));
        // {} is found, not "not found".
        let empty = SharedEntry::new(h, 5, &call, &Answer::Found(Rc::new(json!({}))), 100).unwrap();
        assert_eq!(
            empty.answer(h, 5, &call, 0).unwrap().0,
            Answer::Found(Rc::new(json!({})))
        );
        assert!(SharedEntry::new(h, 5, &call, &Answer::Failed("x".into()), 100).is_none());
        let long = Answer::Found(Rc::new(json!("x".repeat(SHARED_BYTES))));
        assert!(SharedEntry::new(h, 5, &call, &long, 100).is_none());
        assert_ne!(SharedEntry::hash(5, &call), SharedEntry::hash(6, &call));
        assert_ne!(SharedEntry::hash(5, &call), 0);
    }

    #[test]
    fn a_new_answer_replaces_its_call_then_the_free_then_the_first_to_expire() {
        let call = |k: &str| Call::new("f", &[k]);
        let entry = |k: &str, expires: i64| {
            let h = SharedEntry::hash(1, &call(k));
            SharedEntry::new(h, 1, &call(k), &Answer::NotFound, expires).unwrap()
        };
        let slot = |es: &[SharedEntry], k: &str| {
            shared_slot(es.iter(), SharedEntry::hash(1, &call(k)), 1, &call(k))
        };
        let full = [entry("a", 90), entry("b", 70), entry("c", 80)];
        assert_eq!(slot(&full, "c"), Some(2));
        assert_eq!(slot(&full, "d"), Some(1));
        let with_expired = [entry("a", 90), entry("b", 70), entry("c", 10)];
        assert_eq!(slot(&with_expired, "d"), Some(2));
        let with_free = [entry("a", 10), SharedEntry::EMPTY, entry("c", 80)];
        assert_eq!(slot(&with_free, "d"), Some(1));
        assert_eq!(slot(&[], "d"), None);
    }

    #[test]
    fn bounded() {
        let mut c = Cache::default();
        let call = |i: usize| Call::new("f", &[&i.to_string()]);
        for i in 0..CAPACITY + 10 {
            c.put(call(i), Answer::NotFound, 0, 1_000, 0);
        }
        assert!(c.entries.len() <= CAPACITY);
        assert!(c.get(&call(CAPACITY + 9), 0, 0).is_some());
    }

    #[test]
    fn null_is_not_found() {
        assert_eq!(Answer::from_result(None), Answer::NotFound);
        assert_eq!(Answer::from_result(Some(Value::Null)), Answer::NotFound);
        assert_eq!(
            Answer::from_result(Some(json!({}))),
            Answer::Found(Rc::new(json!({})))
        );
    }
}
