//! The recent events of one detection group (a rule and one user, address or correlation), as
//! the detection rules count them. A `Window` is a fixed-size plain value so that the extension
//! can keep thousands of them in shared memory, where every backend counts the events every
//! other backend logged, without a query per event. The table stays the truth: a window is
//! seeded from it, and when a window cannot tell (it dropped an event the count needs) the
//! extension counts from the table instead.
//!
//! One count serves both measures. An entry's key is the event's id (counting events) or the
//! user's id (counting distinct users, an entry per user holding the latest time); recording a
//! key already present keeps the later time, so a retried event is never counted twice.

/// Entries a window holds: rules whose threshold needs more earlier events than this always
/// count from the table.
pub const CAPACITY: usize = 15;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// Event time, microseconds since the Unix epoch.
    pub at_us: i64,
    pub key: u64,
    /// The transaction that logged it (0: known committed, e.g. read from the table): an event
    /// whose transaction rolled back does not count.
    pub xid: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Which group this is (see `crate::detect::Rule::group_key`); all zero: an empty slot.
    pub key: [u8; 16],
    /// The latest time of any event this window dropped or never saw: counts over a range
    /// reaching back past it may be short.
    pub unknown_upto_us: i64,
    /// When no event in it can count any more (its newest event plus the rule's window).
    pub expires_us: i64,
    pub len: u32,
    pub entries: [Entry; CAPACITY],
    /// The latest event on which the rule fired in this group (its key unused): while the rule
    /// keeps firing within its window, the burst goes on and raises no new alert.
    pub fired: Entry,
}

/// What became of the transaction that logged an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Committed,
    Aborted,
    /// Still running (or this very transaction): its events count.
    Open,
}

/// What a count found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Reached,
    Short,
    /// Short as far as the window knows, but it dropped events the range covers.
    Unknown,
}

/// A count a rule asks for: other events than `exclude` (the current event, or its user) in
/// (`from_us`, `at_us`], at least `needed` of them.
#[derive(Clone, Copy, Debug)]
pub struct Count {
    pub from_us: i64,
    pub at_us: i64,
    pub needed: usize,
    pub exclude: Option<u64>,
}

impl Count {
    /// Counts `entries` (keys distinct); `live` says whether an entry's transaction may still
    /// commit or has. Stops as soon as the count is reached.
    pub fn over<'a>(
        &self,
        entries: impl IntoIterator<Item = &'a Entry>,
        unknown_upto_us: i64,
        mut live: impl FnMut(u32) -> bool,
    ) -> Verdict {
        if self.needed == 0 {
            return Verdict::Reached;
        }
        let mut n = 0;
        for e in entries {
            if e.at_us > self.from_us
                && e.at_us <= self.at_us
                && Some(e.key) != self.exclude
                && live(e.xid)
            {
                n += 1;
                if n >= self.needed {
                    return Verdict::Reached;
                }
            }
        }
        if unknown_upto_us > self.from_us {
            Verdict::Unknown
        } else {
            Verdict::Short
        }
    }
}

impl Window {
    pub const EMPTY: Window = Window {
        key: [0; 16],
        unknown_upto_us: i64::MIN,
        expires_us: i64::MIN,
        len: 0,
        entries: [Entry {
            at_us: 0,
            key: 0,
            xid: 0,
        }; CAPACITY],
        fired: Entry {
            at_us: i64::MIN,
            key: 0,
            xid: 0,
        },
    };

    /// A window for `key` that has seen nothing at or before `unknown_upto_us`.
    pub fn new(key: [u8; 16], unknown_upto_us: i64) -> Window {
        Window {
            key,
            unknown_upto_us,
            ..Window::EMPTY
        }
    }

    pub fn is_empty_slot(&self) -> bool {
        self.key == [0; 16]
    }

    /// The latest time of anything it holds: an event, or the rule's last firing.
    pub fn newest_us(&self) -> i64 {
        self.entries()
            .iter()
            .map(|e| e.at_us)
            .fold(self.fired.at_us, i64::max)
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries[..self.len as usize]
    }

    pub fn verdict(&self, count: &Count, live: impl FnMut(u32) -> bool) -> Verdict {
        count.over(self.entries(), self.unknown_upto_us, live)
    }

    /// Whether the rule already fired in this group within the count's range, in a transaction
    /// that did not roll back: a burst going on rather than a new one.
    pub fn burst_going_on(&self, count: &Count, mut live: impl FnMut(u32) -> bool) -> bool {
        self.fired.at_us > count.from_us && self.fired.at_us <= count.at_us && live(self.fired.xid)
    }

    /// Drops the entries (and the firing) of transactions that rolled back, and marks those of
    /// committed ones as known, so that each transaction is looked up until it ends rather than
    /// on every count. What is left counts: committed, or still open.
    pub fn settle(&mut self, mut outcome: impl FnMut(u32) -> Outcome) {
        let mut settle = |e: &mut Entry| {
            if e.xid == 0 {
                return true;
            }
            match outcome(e.xid) {
                Outcome::Committed => e.xid = 0,
                Outcome::Aborted => return false,
                Outcome::Open => {}
            }
            true
        };
        let mut kept = 0;
        for i in 0..self.len as usize {
            let mut e = self.entries[i];
            if settle(&mut e) {
                self.entries[kept] = e;
                kept += 1;
            }
        }
        self.len = kept as u32;
        if self.fired.at_us != i64::MIN && !settle(&mut self.fired) {
            self.fired = Window::EMPTY.fired;
        }
    }

    /// Remembers that the rule fired on an event at `at_us`.
    pub fn mark_fired(&mut self, at_us: i64, xid: u32) {
        if at_us >= self.fired.at_us {
            self.fired = Entry { at_us, key: 0, xid };
        }
    }

    /// Records an event (or a user's latest event) of the group; `window_us` is the rule's
    /// window, for when the slot may be reused. Full, it drops its oldest entry.
    pub fn record(&mut self, e: Entry, window_us: i64) {
        self.expires_us = self.expires_us.max(e.at_us.saturating_add(window_us));
        let len = self.len as usize;
        if let Some(same) = self.entries[..len].iter_mut().find(|x| x.key == e.key) {
            if e.at_us > same.at_us {
                *same = e;
            }
            return;
        }
        if len < CAPACITY {
            self.entries[len] = e;
            self.len += 1;
            return;
        }
        let (oldest, at) = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, x)| (i, x.at_us))
            .min_by_key(|&(_, at)| at)
            .expect("a full window has entries");
        if e.at_us <= at {
            self.unknown_upto_us = self.unknown_upto_us.max(e.at_us);
        } else {
            self.unknown_upto_us = self.unknown_upto_us.max(at);
            self.entries[oldest] = e;
        }
    }
}

/// Which of a group's candidate slots a new window takes: an empty one, else one whose events can
/// no longer count at `now_us`, else the one least recently used (its newest event the oldest:
/// a busy group keeps its window, however short its rule's). Returns its place among them and,
/// when the window it drops could still count, the newest time that window held: up to then, the
/// table of windows no longer knows every event of a group it has no window for.
pub fn slot_for_new<'a>(
    candidates: impl IntoIterator<Item = &'a Window>,
    now_us: i64,
) -> Option<(usize, Option<i64>)> {
    let (place, w) = candidates.into_iter().enumerate().min_by_key(|(_, w)| {
        if w.is_empty_slot() || w.expires_us < now_us {
            i64::MIN
        } else {
            w.newest_us()
        }
    })?;
    let live = !w.is_empty_slot() && w.expires_us >= now_us;
    Some((place, live.then(|| w.newest_us())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at_s: i64, key: u64) -> Entry {
        Entry {
            at_us: at_s * 1_000_000,
            key,
            xid: 0,
        }
    }

    fn count(from_s: i64, at_s: i64, needed: usize, exclude: Option<u64>) -> Count {
        Count {
            from_us: from_s * 1_000_000,
            at_us: at_s * 1_000_000,
            needed,
            exclude,
        }
    }

    const W: i64 = 300_000_000;

    #[test]
    fn counts_the_range_and_not_the_current_event_or_later_ones() {
        let mut w = Window::new([1; 16], 0);
        for (t, k) in [(10, 1), (20, 2), (30, 3), (40, 4), (50, 5)] {
            w.record(entry(t, k), W);
        }
        let all = |_| true;
        assert_eq!(w.verdict(&count(0, 50, 4, Some(5)), all), Verdict::Reached);
        assert_eq!(w.verdict(&count(0, 50, 5, Some(5)), all), Verdict::Short);
        // (10, 40]: 20, 30, 40.
        assert_eq!(w.verdict(&count(10, 40, 3, None), all), Verdict::Reached);
        assert_eq!(w.verdict(&count(10, 40, 4, None), all), Verdict::Short);
        assert_eq!(w.verdict(&count(0, 0, 0, None), all), Verdict::Reached);
    }

    #[test]
    fn an_event_recorded_twice_counts_once_and_a_user_keeps_the_latest_time() {
        let mut w = Window::new([1; 16], 0);
        w.record(entry(10, 7), W);
        w.record(entry(10, 7), W);
        assert_eq!(w.len, 1);
        w.record(entry(20, 7), W);
        w.record(entry(15, 7), W);
        assert_eq!(w.entries(), &[entry(20, 7)]);
        assert_eq!(w.expires_us, 20_000_000 + W);
    }

    #[test]
    fn rolled_back_events_do_not_count() {
        let mut w = Window::new([1; 16], 0);
        for k in 1..=3 {
            w.record(
                Entry {
                    xid: k as u32,
                    ..entry(k, k as u64)
                },
                W,
            );
        }
        let c = count(0, 10, 3, None);
        assert_eq!(w.verdict(&c, |_| true), Verdict::Reached);
        assert_eq!(w.verdict(&c, |xid| xid != 2), Verdict::Short);
    }

    #[test]
    fn a_full_window_drops_its_oldest_and_knows_what_it_cannot_tell() {
        let mut w = Window::new([1; 16], 0);
        for t in 1..=CAPACITY as i64 + 2 {
            w.record(entry(100 + t, t as u64), W);
        }
        assert_eq!(w.len as usize, CAPACITY);
        // It dropped 101 and 102.
        assert_eq!(w.unknown_upto_us, 102_000_000);
        let newest = 100 + CAPACITY as i64 + 2;
        let c = count(0, newest, CAPACITY, None);
        assert_eq!(w.verdict(&c, |_| true), Verdict::Reached);
        // Needing more than it holds, over a range that reaches the dropped ones: unknown.
        assert_eq!(
            w.verdict(&count(0, newest, CAPACITY + 1, None), |_| true),
            Verdict::Unknown
        );
        // A range after the dropped ones: it knows.
        assert_eq!(
            w.verdict(&count(102, newest, CAPACITY + 1, None), |_| true),
            Verdict::Short
        );
        // An event older than all it holds is dropped at once, and remembered as unknown.
        w.record(entry(50, 999), W);
        assert!(w.entries().iter().all(|e| e.key != 999));
        assert_eq!(w.unknown_upto_us, 102_000_000);
        // Events arriving out of order crowd out older ones a count needs: unknown, not short.
        let mut w = Window::new([1; 16], 0);
        w.record(entry(10, 1), W);
        for t in 0..CAPACITY as i64 {
            w.record(entry(100 + t, 100 + t as u64), W);
        }
        assert_eq!(
            w.verdict(&count(0, 20, 1, None), |_| true),
            Verdict::Unknown
        );
    }

    #[test]
    fn settling_drops_rolled_back_events_and_remembers_committed_ones() {
        let mut w = Window::new([1; 16], 0);
        for k in 1..=4u32 {
            w.record(
                Entry {
                    xid: k,
                    ..entry(k as i64, k as u64)
                },
                W,
            );
        }
        w.mark_fired(4_000_000, 4);
        let mut asked = Vec::new();
        w.settle(|xid| {
            asked.push(xid);
            match xid {
                1 => Outcome::Committed,
                2 | 4 => Outcome::Aborted,
                _ => Outcome::Open,
            }
        });
        assert_eq!(asked, [1, 2, 3, 4, 4]);
        let keys: Vec<(u64, u32)> = w.entries().iter().map(|e| (e.key, e.xid)).collect();
        assert_eq!(keys, [(1, 0), (3, 3)]);
        assert_eq!(w.fired.at_us, i64::MIN, "the firing rolled back");
        // Settled once: a committed entry is not looked up again.
        asked.clear();
        w.settle(|xid| {
            asked.push(xid);
            Outcome::Open
        });
        assert_eq!(asked, [3]);
    }

    #[test]
    fn a_burst_goes_on_while_the_rule_fired_within_the_range() {
        let mut w = Window::new([1; 16], 0);
        let c = count(100, 160, 1, None);
        assert!(!w.burst_going_on(&c, |_| true));
        w.mark_fired(120_000_000, 7);
        assert!(w.burst_going_on(&c, |_| true));
        assert!(!w.burst_going_on(&c, |xid| xid != 7), "rolled back");
        assert!(
            !w.burst_going_on(&count(120, 180, 1, None), |_| true),
            "ended"
        );
        w.mark_fired(110_000_000, 8);
        assert_eq!(w.fired.at_us, 120_000_000, "the latest is kept");
    }

    #[test]
    fn a_new_window_takes_a_free_or_expired_slot_before_dropping_a_live_one() {
        let mut live = Window::new([1; 16], 0);
        live.record(entry(100, 1), W);
        let mut expired = Window::new([2; 16], 0);
        expired.record(entry(10, 2), 1_000_000);
        let mut later = Window::new([3; 16], 0);
        later.record(entry(140, 3), 1_000_000);
        let now = 140_500_000;
        assert_eq!(
            slot_for_new(&[live, Window::EMPTY, later], now),
            Some((1, None))
        );
        assert_eq!(slot_for_new(&[live, expired, later], now), Some((1, None)));
        // Only live ones: the least recently used goes, though the other expires sooner, and
        // what it knew up to is lost.
        live.mark_fired(120_000_000, 0);
        assert_eq!(
            slot_for_new(&[later, live], now),
            Some((1, Some(120_000_000)))
        );
        assert_eq!(slot_for_new(&[], now), None);
    }

    #[test]
    fn a_window_seeded_from_a_time_knows_nothing_before_it() {
        let w = Window::new([1; 16], 40_000_000);
        assert_eq!(
            w.verdict(&count(30, 50, 1, None), |_| true),
            Verdict::Unknown
        );
        assert_eq!(w.verdict(&count(40, 50, 1, None), |_| true), Verdict::Short);
    }
}
