//! Waiting between retries: exponential, capped, with full jitter, so that many clients retrying
//! one recovered server do not all come back at once.

use rand::Rng;
use std::time::Duration;

const FIRST: Duration = Duration::from_millis(100);

pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Backoff {
        Backoff { next: FIRST, max }
    }

    /// The longest the next wait can be.
    pub fn limit(&self) -> Duration {
        self.next
    }

    /// Sleeps up to the current limit, then doubles it (to the cap).
    pub async fn wait(&mut self) {
        let wait = rand::thread_rng().gen_range(Duration::ZERO..=self.next);
        tokio::time::sleep(wait).await;
        self.next = (self.next * 2).min(self.max);
    }

    /// After a success: the next failure waits little again.
    pub fn reset(&mut self) {
        self.next = FIRST;
    }
}
