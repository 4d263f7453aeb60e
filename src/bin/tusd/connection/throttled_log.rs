//! A warning that repeats under load logged once a minute at most.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How often a repeated warning is logged again.
const EVERY: Duration = Duration::from_secs(60);

/// Counts a recurring condition and says when it should be logged: the
/// first time, then at most once per minute with how often it recurred.
#[derive(Default)]
pub struct ThrottledLog {
    state: Mutex<(Option<Instant>, u64)>,
}

impl ThrottledLog {
    /// Records one occurrence; `Some(n)` when it is to be logged now, `n`
    /// being the occurrences not logged since the last line.
    pub fn occurred(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (last, unlogged) = &mut *state;
        let now = Instant::now();
        match last {
            Some(at) if now.duration_since(*at) < EVERY => {
                *unlogged += 1;
                None
            }
            _ => {
                *last = Some(now);
                Some(std::mem::take(unlogged))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn logs_the_first_time_then_once_a_minute_with_the_count() {
        let log = ThrottledLog::default();
        assert_eq!(log.occurred(), Some(0));
        for _ in 0..999 {
            assert_eq!(log.occurred(), None);
        }
        tokio::time::advance(EVERY).await;
        assert_eq!(log.occurred(), Some(999));
        assert_eq!(log.occurred(), None);
    }
}
