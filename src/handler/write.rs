use bytes::Bytes;
use http_body::Body;

use super::UploadHandler;
use crate::body::{BodyEnd, UploadBody};
use crate::error::{BoxError, TusError};
use crate::info::FileInfo;
use crate::lock::{LockError, UploadLock};

impl UploadHandler {
    /// Takes the upload's lock when a locker is composed.
    pub(super) async fn lock(&self, id: &str) -> Result<Option<UploadLock>, TusError> {
        let Some(locker) = &self.inner.config.composer.locker else {
            return Ok(None);
        };
        match locker.lock(id, self.inner.config.lock_timeout).await {
            Ok(lock) => Ok(Some(lock)),
            Err(LockError::Timeout) => Err(TusError::LockTimeout),
            Err(LockError::Other(e)) => Err(TusError::Store(crate::error::StoreError::Other(e))),
        }
    }

    /// Streams `body` into the upload at its current offset and returns the
    /// new offset; completes the upload when its last byte arrived.
    ///
    /// Bytes that arrived are kept whatever the outcome; the error tells
    /// the client why its body was not taken whole.
    pub(super) async fn write_body<B>(
        &self,
        info: &FileInfo,
        body: B,
        lock: Option<&UploadLock>,
    ) -> Result<u64, TusError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let remaining = match (info.size, self.inner.config.max_size) {
            (Some(size), _) => size.saturating_sub(info.offset),
            (None, Some(max)) => max.saturating_sub(info.offset),
            (None, None) => u64::MAX,
        };
        let mut src = UploadBody::new(body, remaining);
        if let Some(lock) = lock {
            src = src.with_release_signal(lock.release_signal());
        }
        let written = self
            .inner
            .core
            .write_chunk(&info.id, info.offset, &mut src)
            .await?;
        let offset = info.offset + written;
        tracing::debug!(id = %info.id, written, offset, "chunk written");
        if info.size == Some(offset) && written > 0 {
            self.complete(&info.id).await?;
        }
        match src.take_end() {
            Some(BodyEnd::Complete) | None => Ok(offset),
            Some(BodyEnd::TooLarge) => Err(TusError::BodyTooLarge),
            Some(BodyEnd::ReleaseRequested) => Err(TusError::Interrupted),
            Some(BodyEnd::Failed(e)) => Err(TusError::BodyRead(e.to_string())),
        }
    }

    /// Tells the finisher that every byte of upload `id` has arrived.
    pub(super) async fn complete(&self, id: &str) -> Result<(), TusError> {
        if let Some(finisher) = &self.inner.config.composer.finisher {
            finisher.finish_upload(id).await?;
        }
        tracing::info!(id, "upload completed");
        Ok(())
    }
}
