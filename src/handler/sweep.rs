//! The maintenance sweep: finishing what a failure left unfinished, and
//! removing expired uploads. It only ever *tries* locks, so it never
//! interrupts a writer here or on another machine, and it decides under the
//! lock, from state read under it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method};

use super::UploadHandler;
use super::open::OpenUpload;
use crate::error::TusError;
use crate::events::RequestDetails;
use crate::lock::LockMode;
use crate::store::Extension;

/// What one sweep did.
///
/// ```
/// use tower_tus::handler::SweepReport;
///
/// let report = SweepReport::default();
/// assert_eq!(report.expired + report.finished, 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepReport {
    /// Expired uploads removed.
    pub expired: usize,
    /// Uploads (and final uploads) finished on a retry.
    pub finished: usize,
    /// Uploads skipped because a request held their lock.
    pub busy: usize,
}

impl UploadHandler {
    /// Finishes uploads whose finishing failed earlier, completes final
    /// uploads whose concatenation failed or was cut short, and terminates
    /// expired uploads (with the events, hooks and metrics of a DELETE).
    ///
    /// Needs a store that lists its uploads; without one it does nothing.
    /// A partial upload that an unfinished final still needs is kept, and
    /// an unfinished final upload is active as long as its partials are.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_tus::{Config, StoreComposer, UploadHandler, store::MemoryStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut composer = StoreComposer::new();
    /// MemoryStore::new().use_in(&mut composer);
    /// let handler = UploadHandler::new(Config::new(composer).expire_after(Duration::from_secs(3600)));
    /// assert_eq!(handler.sweep().await.unwrap().expired, 0);
    /// # }
    /// ```
    pub async fn sweep(&self) -> Result<SweepReport, TusError> {
        let mut report = SweepReport::default();
        if !self.offers(Extension::Listing) {
            return Ok(report);
        }
        let details = self.server_details(Method::DELETE, "");
        for id in self.inner.core.list_uploads().await? {
            let Ok(upload) = self.inner.core.get_upload(&id).await else {
                continue;
            };
            let info = upload.info();
            let unfinished = !info.finished && (info.is_final || info.is_complete());
            if !unfinished && self.check_expired(info).is_ok() {
                continue;
            }
            let mut open = match self.open_internal(&id, Some(LockMode::Try), &details).await {
                Ok(open) => open,
                Err(TusError::Locked) => {
                    report.busy += 1;
                    continue;
                }
                Err(_) => continue,
            };
            match self.sweep_one(&mut open).await {
                Ok(Swept::Expired) => report.expired += 1,
                Ok(Swept::Finished) => report.finished += 1,
                Ok(Swept::Kept) => {}
                Err(err) => tracing::warn!(id, error = %err, "sweep could not handle upload"),
            }
            open.release().await;
        }
        Ok(report)
    }

    /// Runs [`sweep`](Self::sweep) every `every` on the current tokio
    /// runtime, until the returned task is aborted.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_tus::{Config, StoreComposer, UploadHandler, store::MemoryStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut composer = StoreComposer::new();
    /// MemoryStore::new().use_in(&mut composer);
    /// let handler = UploadHandler::new(Config::new(composer).expire_after(Duration::from_secs(3600)));
    /// let sweeper = handler.spawn_sweep(Duration::from_secs(60));
    /// sweeper.abort();
    /// # }
    /// ```
    pub fn spawn_sweep(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let handler = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(err) = handler.sweep().await {
                    tracing::warn!(error = %err, "sweep failed");
                }
            }
        })
    }

    /// Details for work the server does on its own.
    pub(super) fn server_details(&self, method: Method, id: &str) -> Arc<RequestDetails> {
        Arc::new(RequestDetails::new(
            method,
            format!("{}{id}", self.inner.config.base_path)
                .parse()
                .unwrap_or_default(),
            HeaderMap::new(),
            None,
        ))
    }

    async fn sweep_one(&self, open: &mut OpenUpload) -> Result<Swept, TusError> {
        let info = open.upload.info().clone();
        if !info.finished && (info.is_final || info.is_complete()) {
            let result = if info.is_final {
                open.complete_final().await
            } else {
                open.finish_if_complete().await
            };
            result?;
            if open.upload.info().finished {
                return Ok(Swept::Finished);
            }
        }
        let mut active = info
            .updated_at
            .or(info.created_at)
            .unwrap_or_else(SystemTime::now);
        if info.is_final && !info.finished {
            for partial in self
                .partial_states(&info.partial_uploads, super::finish::partial_gone)
                .await
                .unwrap_or_default()
            {
                if let Some(at) = partial.updated_at.or(partial.created_at) {
                    active = active.max(at);
                }
            }
        }
        let expired = self
            .expires_at_from(&info, active)
            .is_some_and(|at| at <= SystemTime::now());
        if !expired || !self.offers(Extension::Termination) || open.needed_by_a_final().await? {
            return Ok(Swept::Kept);
        }
        open.details = self.server_details(Method::DELETE, &info.id);
        open.terminate_as_server().await?;
        tracing::info!(id = %info.id, "expired upload removed");
        Ok(Swept::Expired)
    }
}

enum Swept {
    Expired,
    Finished,
    Kept,
}
