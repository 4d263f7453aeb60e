//! Finishing uploads: once every byte arrived, pre-finish is asked, the
//! store finishes, and the finished state is persisted. Idempotent, and
//! retried by the next PATCH or HEAD and by the sweep when it failed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::UploadHandler;
use super::open::OpenUpload;
use crate::error::{StoreError, TusError};
use crate::events::{EventKind, RequestDetails};
use crate::hooks::{HookName, HookResponse};
use crate::info::FileInfo;
use crate::lock::LockMode;

impl OpenUpload {
    /// Whether the upload has every byte but is not finished yet.
    pub(super) fn awaits_finish(&self) -> bool {
        let info = self.upload.info();
        !info.finished && info.is_complete()
    }

    /// Finishes the upload if every byte arrived and it is not finished yet,
    /// under the lock this request holds; returns what pre-finish adds to
    /// the response. Then completes the final uploads waiting for it.
    pub(super) async fn finish_if_complete(&mut self) -> Result<Option<HookResponse>, TusError> {
        if !self.awaits_finish() {
            return Ok(None);
        }
        self.ensure_locked()?;
        let handler = self.handler.clone();
        let response = handler
            .pre_finish(self.upload.info(), &self.details)
            .await?;
        self.ensure_locked()?;
        self.upload.finish().await?;
        if self.upload.info().is_partial {
            // Finals may have been made from it while it was open: the ones
            // recorded before it was finished are completed here, the later
            // ones see it finished and complete themselves.
            if let Err(err) = self.reopen().await {
                tracing::warn!(error = %err, "finished partial upload could not be read again");
            }
        }
        let info = self.upload.info().clone();
        handler.inner.metrics.finished();
        tracing::info!(id = %info.id, "upload finished");
        handler.emit(EventKind::Completed, &info, &self.details);
        handler.post_hook(HookName::PostFinish, &info, &self.details);
        for final_id in &info.used_by {
            if let Err(err) = handler.complete_final(final_id, &self.details).await {
                tracing::warn!(id = %final_id, error = %err, "final upload could not complete yet");
            }
        }
        Ok(response)
    }
}

impl UploadHandler {
    /// Completes final upload `id` once every partial is finished:
    /// concatenates (all or nothing, so a failed or interrupted attempt is
    /// simply repeated) and finishes it, under the final's lock. Does
    /// nothing when it is finished already or a partial is not.
    ///
    /// Boxed: finishing the final finishes an upload, which may in turn
    /// look for finals to complete.
    pub(super) fn complete_final<'a>(
        &'a self,
        id: &'a str,
        details: &'a Arc<RequestDetails>,
    ) -> Pin<Box<dyn Future<Output = Result<(), TusError>> + Send + 'a>> {
        Box::pin(async move {
            // Waits rather than tries: the last partial to finish must see
            // the final, whoever else is looking at it.
            let mut open = self
                .open_internal(id, Some(LockMode::Wait), details)
                .await?;
            let result = open.complete_final().await;
            open.release().await;
            result.map(drop)
        })
    }

    /// The states of the partial uploads `ids`, in order; `missing` says
    /// what an id that names no upload means to the caller.
    pub(super) async fn partial_states(
        &self,
        ids: &[String],
        missing: impl Fn(&str) -> TusError,
    ) -> Result<Vec<FileInfo>, TusError> {
        let mut out: Vec<FileInfo> = Vec::with_capacity(ids.len());
        for id in ids {
            // A partial named again is read once.
            if let Some(seen) = out.iter().find(|p| &p.id == id) {
                out.push(seen.clone());
                continue;
            }
            match self.inner.core.get_upload(id).await {
                Ok(upload) => out.push(upload.info().clone()),
                Err(StoreError::NotFound) => return Err(missing(id)),
                Err(err) => return Err(err.into()),
            }
        }
        Ok(out)
    }
}

impl OpenUpload {
    /// For a final upload: concatenates and finishes it once every partial
    /// is finished. Returns what pre-finish adds when it finished now.
    pub(super) async fn complete_final(&mut self) -> Result<Option<HookResponse>, TusError> {
        let info = self.upload.info();
        if !info.is_final || info.finished {
            return Ok(None);
        }
        let partials = self
            .handler
            .partial_states(&info.partial_uploads, partial_gone)
            .await?;
        if !partials.iter().all(|p| p.finished) {
            return Ok(None);
        }
        if !self.upload.info().is_complete() {
            self.ensure_locked()?;
            self.upload.concatenate(&partials).await?;
            if !self.upload.info().is_complete() {
                let info = self.upload.info();
                return Err(TusError::Store(StoreError::Corrupt(format!(
                    "final upload {} holds {} of {:?} bytes after concatenation",
                    info.id, info.offset, info.size
                ))));
            }
        }
        self.finish_if_complete().await
    }

    /// Retries what a failed finish or concatenation left undone: for HEAD
    /// and GET, which only read. Under the lock the request holds, or else
    /// if the upload's lock is free right now.
    pub(super) async fn retry_finish(&mut self) -> Result<(), TusError> {
        let info = self.upload.info();
        let pending = !info.finished && (info.is_final || info.is_complete());
        if !pending {
            return Ok(());
        }
        let id = info.id.clone();
        let takes_own_lock = self.lock.is_none();
        if takes_own_lock {
            let lock = match self.handler.lock(&id, LockMode::Try).await {
                Ok(lock) => lock,
                Err(TusError::Locked) => return Ok(()),
                Err(err) => return Err(err),
            };
            self.lock = Some(lock);
            self.reopen().await?;
        }
        let result = if self.upload.info().is_final {
            self.complete_final().await
        } else {
            self.finish_if_complete().await
        };
        if takes_own_lock && let Some(lock) = self.lock.take() {
            lock.release().await;
        }
        if let Err(err) = result {
            tracing::warn!(id, error = %err, "upload could not be finished yet");
        }
        Ok(())
    }
}

/// A partial upload of a final upload that no longer exists: the store
/// lost what a final was promised.
pub(super) fn partial_gone(id: &str) -> TusError {
    TusError::Store(StoreError::Corrupt(format!(
        "partial upload {id} of a final upload is gone"
    )))
}
