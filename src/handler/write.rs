//! Streaming a request body into an upload, under the request's lock.

use bytes::Bytes;
use http_body::Body;

use super::open::OpenUpload;
use crate::body::{BodyEnd, UploadBody};
use crate::checksum::{Expected, VerifyError};
use crate::error::{BoxError, TusError};
use crate::events::EventKind;
use crate::hooks::HookResponse;

impl OpenUpload {
    /// Streams `body` into the upload at its offset, under the lock this
    /// request holds, and returns the durable offset.
    ///
    /// Bytes that arrived are kept whatever the outcome, unless a checksum
    /// was asked for and cannot be confirmed (the chunk never becomes part
    /// of the upload), or a post-receive hook stops the upload (it is
    /// terminated).
    pub(super) async fn write_body<B>(
        &mut self,
        body: B,
        checksum: Option<Expected>,
    ) -> Result<u64, TusError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.ensure_locked()?;
        let config = &self.handler.inner.config;
        let info = self.upload.info().clone();
        let remaining = match (info.size, config.max_size) {
            (Some(size), _) => size.saturating_sub(info.offset),
            (None, Some(max)) => max.saturating_sub(info.offset),
            (None, None) => u64::MAX,
        };
        let mut src = UploadBody::new(body, remaining);
        if let Some(lock) = &self.lock {
            src = src.with_lock(lock);
        }
        if let Some(timeout) = config.network_timeout {
            src = src.with_idle_timeout(timeout);
        }
        if let Some(expected) = checksum {
            src = src.with_checksum(expected);
        }
        let monitor = self.handler.watch_progress(&info, &self.details);
        if let Some(m) = &monitor {
            src = src
                .with_progress(m.received.clone())
                .with_stop_signal(m.stop.clone());
        }

        let written = self.upload.write(&mut src).await;
        let stop_response = monitor.and_then(|m| m.finish());
        let end = src.take_end();

        if matches!(end, Some(BodyEnd::Stopped)) {
            return Err(self.stopped(stop_response).await);
        }
        let offset = written?;
        let received = offset.saturating_sub(info.offset);
        self.handler.inner.metrics.received(received);
        tracing::debug!(id = %info.id, received, offset, "chunk written");

        if src.needs_verification() {
            let verdict = src.verdict().cloned().unwrap_or_else(|| src.verify());
            match verdict {
                Ok(()) => {}
                Err(VerifyError::Incomplete) => {
                    return Err(self.interrupted(end.unwrap_or(BodyEnd::Complete)));
                }
                Err(VerifyError::Mismatch) => return Err(TusError::ChecksumMismatch),
                Err(VerifyError::MissingTrailer) => {
                    return Err(TusError::InvalidChecksum(
                        "the Upload-Checksum trailer did not arrive",
                    ));
                }
                Err(VerifyError::InvalidTrailer(why)) => {
                    return Err(TusError::InvalidChecksum(why));
                }
            }
        }
        match end {
            Some(BodyEnd::Complete) | None => Ok(offset),
            // A body longer than the upload: what fit completed it, the rest
            // is ignored, as tusd does.
            Some(BodyEnd::TooLarge) if self.upload.info().is_complete() => Ok(offset),
            Some(other) => Err(self.interrupted(other)),
        }
    }

    /// A post-receive hook stopped the upload: it is terminated, and the
    /// hook's response is the answer.
    async fn stopped(&mut self, response: Option<HookResponse>) -> TusError {
        tracing::info!(id = %self.upload.info().id, "upload stopped by a post-receive hook");
        if let Err(err) = self.terminate_as_server().await {
            tracing::warn!(error = %err, "stopped upload could not be terminated");
        }
        TusError::UploadStopped(Box::new(response.unwrap_or_default()))
    }

    /// The error for a body that did not arrive whole.
    fn interrupted(&self, end: BodyEnd) -> TusError {
        if !matches!(end, BodyEnd::TooLarge) {
            self.handler
                .emit(EventKind::Interrupted, self.upload.info(), &self.details);
        }
        match end {
            BodyEnd::Complete => TusError::BodyRead("body ended".into()),
            BodyEnd::TooLarge => TusError::BodyTooLarge,
            BodyEnd::ReleaseRequested => TusError::Interrupted,
            BodyEnd::LockLost => TusError::LockLost,
            BodyEnd::Failed(e) => TusError::BodyRead(e.to_string()),
            BodyEnd::Stalled => TusError::Stalled,
            BodyEnd::Stopped => TusError::UploadStopped(Box::default()),
        }
    }
}
