//! Terminating an upload under its lock: for a DELETE, the sweep, an
//! eviction or a post-receive stop, with the same events, hooks and metrics.

use super::open::OpenUpload;
use crate::error::{StoreError, TusError};
use crate::events::EventKind;
use crate::hooks::HookName;

/// How often a termination re-reads an upload that changed under it.
const ATTEMPTS: usize = 3;

impl OpenUpload {
    /// Whether a final upload made from this partial one still needs its bytes.
    pub(super) async fn needed_by_a_final(&self) -> Result<bool, TusError> {
        for final_id in &self.upload.info().used_by {
            match self.handler.inner.core.get_upload(final_id).await {
                Ok(f) if !f.info().finished => return Ok(true),
                Ok(_) | Err(StoreError::NotFound) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(false)
    }

    /// Terminates the upload for a client's DELETE: refused while a final
    /// upload still needs it, and asks pre-terminate.
    pub(super) async fn terminate_for_client(&mut self) -> Result<(), TusError> {
        self.terminate(true).await
    }

    /// Terminates the upload for the server's own reasons.
    pub(super) async fn terminate_as_server(&mut self) -> Result<(), TusError> {
        self.terminate(false).await
    }

    async fn terminate(&mut self, ask_hook: bool) -> Result<(), TusError> {
        let handler = self.handler.clone();
        for attempt in 1..=ATTEMPTS {
            if self.needed_by_a_final().await? {
                return Err(TusError::Forbidden);
            }
            if ask_hook && attempt == 1 {
                handler
                    .pre_terminate(self.upload.info(), &self.details)
                    .await?;
            }
            self.ensure_locked()?;
            match self.upload.terminate().await {
                Ok(()) => {
                    let info = self.upload.info();
                    tracing::info!(id = %info.id, "upload terminated");
                    handler.inner.metrics.terminated();
                    handler.emit(EventKind::Terminated, info, &self.details);
                    handler.post_hook(HookName::PostTerminate, info, &self.details);
                    return Ok(());
                }
                // A final upload started to use it meanwhile: look again.
                Err(StoreError::PreconditionFailed(_)) if attempt < ATTEMPTS => {
                    self.reopen().await?;
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(TusError::Forbidden)
    }
}
