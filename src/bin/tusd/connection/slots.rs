//! The cap on connections open at once.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ThrottledLog;

/// One slot per connection; when all are taken the accept loop waits, so
/// new clients queue in the listen backlog instead of costing a file
/// descriptor each.
pub struct ConnectionSlots {
    free: Arc<Semaphore>,
    max: usize,
    full: ThrottledLog,
}

impl ConnectionSlots {
    pub fn new(max: usize) -> Self {
        ConnectionSlots {
            free: Arc::new(Semaphore::new(max)),
            max,
            full: ThrottledLog::default(),
        }
    }

    /// A slot for the next connection, waiting for one to close if all
    /// are taken. The connection holds it until it ends.
    pub async fn take(&self) -> OwnedSemaphorePermit {
        if let Ok(slot) = self.free.clone().try_acquire_owned() {
            return slot;
        }
        if let Some(unlogged) = self.full.occurred() {
            let again = if unlogged > 0 {
                format!(" ({unlogged} more times since the last warning)")
            } else {
                String::new()
            };
            tracing::warn!(
                "{} connections are open, as many as --max-connections allows: new ones wait until one closes{again}",
                self.max
            );
        }
        self.free
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }
}
