//! Where every request on an existing upload starts: lock, read, check
//! expiry, ask pre-access. Written once.

use std::sync::Arc;

use super::UploadHandler;
use crate::error::{StoreError, TusError};
use crate::events::RequestDetails;
use crate::lock::{LockError, LockMode, UploadLock};
use crate::store::Upload;

/// An upload opened for one request: the store's handle, the lock the
/// request holds on it (none for reads), and the request.
pub(super) struct OpenUpload {
    pub(super) handler: UploadHandler,
    pub(super) upload: Box<dyn Upload>,
    pub(super) lock: Option<UploadLock>,
    pub(super) details: Arc<RequestDetails>,
}

impl UploadHandler {
    /// Opens upload `id` for a client's request: under a lock taken the way
    /// `mode` says (none for reads), refusing it when expired or when
    /// pre-access says no.
    pub(super) async fn open(
        &self,
        id: &str,
        mode: Option<LockMode>,
        details: &Arc<RequestDetails>,
    ) -> Result<OpenUpload, TusError> {
        let open = self.open_internal(id, mode, details).await?;
        self.check_expired(open.upload.info())?;
        self.pre_access(open.upload.info(), details).await?;
        Ok(open)
    }

    /// Opens upload `id` for the server's own work (finishing, completing a
    /// final upload, the sweep, eviction): no expiry check, no pre-access.
    pub(super) async fn open_internal(
        &self,
        id: &str,
        mode: Option<LockMode>,
        details: &Arc<RequestDetails>,
    ) -> Result<OpenUpload, TusError> {
        let lock = match mode {
            Some(mode) => Some(self.lock(id, mode).await?),
            None => None,
        };
        let upload = self.inner.core.get_upload(id).await?;
        Ok(OpenUpload {
            handler: self.clone(),
            upload,
            lock,
            details: details.clone(),
        })
    }

    /// Wraps an upload just created, under the lock `mode` takes.
    pub(super) async fn open_created(
        &self,
        upload: Box<dyn Upload>,
        mode: LockMode,
        details: &Arc<RequestDetails>,
    ) -> Result<OpenUpload, TusError> {
        let lock = self.lock(&upload.info().id, mode).await?;
        Ok(OpenUpload {
            handler: self.clone(),
            upload,
            lock: Some(lock),
            details: details.clone(),
        })
    }

    pub(super) async fn lock(&self, id: &str, mode: LockMode) -> Result<UploadLock, TusError> {
        let timeout = self.inner.config.lock_timeout;
        match self.inner.locker.lock(id, mode, timeout).await {
            Ok(lock) => Ok(lock),
            Err(LockError::Timeout) => Err(TusError::LockTimeout),
            Err(LockError::Busy) => Err(TusError::Locked),
            Err(LockError::Unavailable(e)) => Err(TusError::Store(StoreError::Unavailable {
                message: e.to_string(),
                retry_after: None,
            })),
            Err(LockError::Other(e)) => Err(TusError::Store(StoreError::Other(e))),
        }
    }
}

impl OpenUpload {
    /// Reloads the upload's state, under the same lock.
    pub(super) async fn reopen(&mut self) -> Result<(), TusError> {
        let id = self.upload.info().id.clone();
        self.upload = self.handler.inner.core.get_upload(&id).await?;
        Ok(())
    }

    /// Refuses to change the upload once its lock is lost.
    pub(super) fn ensure_locked(&self) -> Result<(), TusError> {
        match &self.lock {
            Some(lock) if lock.is_lost() => Err(TusError::LockLost),
            _ => Ok(()),
        }
    }

    /// Lets go of the lock, if held.
    pub(super) async fn release(mut self) {
        if let Some(lock) = self.lock.take() {
            lock.release().await;
        }
    }
}
