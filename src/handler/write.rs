use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use http_body::Body;

use super::UploadHandler;
use crate::body::{BodyEnd, UploadBody};
use crate::checksum::{Algorithm, Checksum, MultiHasher};
use crate::error::{BoxError, StoreError, TusError};
use crate::headers::UPLOAD_CHECKSUM;
use crate::info::FileInfo;
use crate::lock::{LockError, UploadLock};

/// How a request's data is to be verified.
pub(super) enum ChecksumRequest {
    /// `Upload-Checksum` came with the headers.
    Header(Checksum),
    /// `Trailer: Upload-Checksum`: the checksum follows the body, with an
    /// algorithm not known until then, so every algorithm hashes.
    Trailer,
}

impl UploadHandler {
    /// Takes the upload's lock when a locker is composed.
    pub(super) async fn lock(&self, id: &str) -> Result<Option<UploadLock>, TusError> {
        let Some(locker) = &self.inner.config.composer.locker else {
            return Ok(None);
        };
        match locker.lock(id, self.inner.config.lock_timeout).await {
            Ok(lock) => Ok(Some(lock)),
            Err(LockError::Timeout) => Err(TusError::LockTimeout),
            Err(LockError::Other(e)) => Err(TusError::Store(StoreError::Other(e))),
        }
    }

    /// Reads what the request asks to verify, refusing bad headers before
    /// anything is written.
    pub(super) fn checksum_request(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<ChecksumRequest>, TusError> {
        let in_trailer = headers.get_all(header::TRAILER).iter().any(|v| {
            v.to_str().is_ok_and(|s| {
                s.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upload-checksum"))
            })
        });
        let value = headers.get(UPLOAD_CHECKSUM);
        if value.is_none() && !in_trailer {
            return Ok(None);
        }
        if self.inner.config.composer.truncater.is_none() {
            return Err(TusError::ExtensionNotSupported("checksum"));
        }
        match value {
            Some(v) => {
                let text = v
                    .to_str()
                    .map_err(|_| TusError::InvalidChecksum("not text"))?;
                Ok(Some(ChecksumRequest::Header(Checksum::parse(text)?)))
            }
            None => Ok(Some(ChecksumRequest::Trailer)),
        }
    }

    /// Streams `body` into the upload at its current offset and returns the
    /// new offset; completes the upload when its last byte arrived.
    ///
    /// Bytes that arrived are kept whatever the outcome, unless a checksum
    /// was asked for and cannot be confirmed: then the chunk vanishes and
    /// the offset stays where it was.
    pub(super) async fn write_body<B>(
        &self,
        info: &FileInfo,
        body: B,
        lock: Option<&UploadLock>,
        checksum: Option<ChecksumRequest>,
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
        match &checksum {
            Some(ChecksumRequest::Header(c)) => {
                src = src.with_hasher(MultiHasher::new([c.algorithm()]))
            }
            Some(ChecksumRequest::Trailer) => {
                src = src.with_hasher(MultiHasher::new(Algorithm::ALL))
            }
            None => {}
        }
        let was_complete = info.is_complete();
        let written = self
            .inner
            .core
            .write_chunk(&info.id, info.offset, &mut src)
            .await?;
        let mut end = src.take_end();

        if let Some(request) = checksum {
            let verdict = match end.take_if(|e| !matches!(e, BodyEnd::Complete)) {
                None => verify(request, &mut src),
                // An incomplete chunk cannot be verified.
                Some(other) => Err(end_error(other)),
            };
            if let Err(err) = verdict {
                if let Some(truncater) = &self.inner.config.composer.truncater {
                    truncater.truncate(&info.id, info.offset).await?;
                }
                return Err(err);
            }
        }

        let offset = info.offset + written;
        tracing::debug!(id = %info.id, written, offset, "chunk written");
        if info.size == Some(offset) && !was_complete {
            self.complete(&info.id).await?;
        }
        match end {
            Some(BodyEnd::Complete) | None => Ok(offset),
            Some(other) => Err(end_error(other)),
        }
    }

    /// Every byte of upload `id` has arrived: tell the finisher, and
    /// complete the final uploads waiting for it.
    pub(super) async fn complete(&self, id: &str) -> Result<(), TusError> {
        if let Some(finisher) = &self.inner.config.composer.finisher {
            finisher.finish_upload(id).await?;
        }
        tracing::info!(id, "upload completed");
        if self.inner.config.composer.concater.is_some() {
            let info = self.inner.core.get_info(id).await?;
            for final_id in &info.used_by {
                if let Err(err) = self.try_complete_final(final_id).await {
                    tracing::warn!(id = %final_id, error = %err, "final upload could not complete");
                }
            }
        }
        Ok(())
    }

    /// `Upload-Expires` for an upload in the state `info`, just written to.
    pub(super) fn expires_after_write(&self, info: &FileInfo, offset: u64) -> Option<HeaderValue> {
        let mut after = info.clone();
        after.offset = offset;
        after.updated_at = Some(SystemTime::now());
        self.expires_header(&after)
    }
}

fn verify(request: ChecksumRequest, src: &mut UploadBody) -> Result<(), TusError> {
    let expected = match request {
        ChecksumRequest::Header(c) => c,
        ChecksumRequest::Trailer => {
            let value = src.trailers().and_then(|t| t.get(UPLOAD_CHECKSUM)).ok_or(
                TusError::InvalidChecksum("the Upload-Checksum trailer did not arrive"),
            )?;
            Checksum::parse(
                value
                    .to_str()
                    .map_err(|_| TusError::InvalidChecksum("not text"))?,
            )?
        }
    };
    match src.take_hasher() {
        Some(hasher) if hasher.clone().verify(&expected) => Ok(()),
        _ => Err(TusError::ChecksumMismatch),
    }
}

fn end_error(end: BodyEnd) -> TusError {
    match end {
        BodyEnd::Complete => TusError::BodyRead("body ended".into()),
        BodyEnd::TooLarge => TusError::BodyTooLarge,
        BodyEnd::ReleaseRequested => TusError::Interrupted,
        BodyEnd::Failed(e) => TusError::BodyRead(e.to_string()),
    }
}
