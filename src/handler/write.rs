use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use http_body::Body;

use super::UploadHandler;
use crate::body::{BodyEnd, UploadBody};
use crate::checksum::{Algorithm, Checksum, MultiHasher};
use crate::error::{BoxError, StoreError, TusError};
use crate::events::{EventKind, RequestDetails};
use crate::headers::UPLOAD_CHECKSUM;
use crate::hooks::{HookEvent, HookName, HookResponse, PostReceive};
use crate::info::FileInfo;
use crate::lock::{LockError, ReleaseSignal, UploadLock};

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
    /// new offset, and what a pre-finish hook adds to the response when the
    /// upload completed.
    ///
    /// Bytes that arrived are kept whatever the outcome, unless a checksum
    /// was asked for and cannot be confirmed (the chunk vanishes and the
    /// offset stays where it was), or a post-receive hook stops the upload
    /// (it is terminated).
    pub(super) async fn write_body<B>(
        &self,
        info: &FileInfo,
        body: B,
        lock: Option<&UploadLock>,
        checksum: Option<ChecksumRequest>,
        details: &Arc<RequestDetails>,
    ) -> Result<(u64, Option<HookResponse>), TusError>
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
        if let Some(timeout) = self.inner.config.network_timeout {
            src = src.with_idle_timeout(timeout);
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
        let monitor = self.watch_progress(info, details);
        if let Some(m) = &monitor {
            src = src
                .with_progress(m.received.clone())
                .with_stop_signal(m.stop.clone());
        }

        let was_complete = info.is_complete();
        let written = self
            .inner
            .core
            .write_chunk(&info.id, info.offset, &mut src)
            .await;
        let stop_response = match monitor {
            Some(m) => m.finish().await,
            None => None,
        };
        let written = written?;
        let mut end = src.take_end();

        if let Some(request) = checksum {
            let verdict = match end.take_if(|e| !matches!(e, BodyEnd::Complete)) {
                None => verify(request, &mut src),
                // An incomplete chunk cannot be verified.
                Some(other) => Err(self.end_error(other, info, details)),
            };
            if let Err(err) = verdict {
                if let Some(truncater) = &self.inner.config.composer.truncater {
                    truncater.truncate(&info.id, info.offset).await?;
                }
                return Err(err);
            }
        }
        self.inner.metrics.received(written);

        if matches!(end, Some(BodyEnd::Stopped)) {
            if let Some(terminater) = &self.inner.config.composer.terminater {
                terminater.terminate(&info.id).await?;
                self.inner.metrics.terminated();
                self.emit(EventKind::Terminated, info, details);
                self.post_hook(HookName::PostTerminate, info, details);
            }
            tracing::info!(id = %info.id, "upload stopped by a post-receive hook");
            return Err(TusError::UploadStopped(Box::new(
                stop_response.unwrap_or_default(),
            )));
        }

        let offset = info.offset + written;
        tracing::debug!(id = %info.id, written, offset, "chunk written");
        let mut finish = None;
        if info.size == Some(offset) && !was_complete {
            finish = self.complete(&info.id, details).await?;
        }
        match end {
            Some(BodyEnd::Complete) | None => Ok((offset, finish)),
            Some(other) => Err(self.end_error(other, info, details)),
        }
    }

    /// Every byte of upload `id` has arrived: ask pre-finish, tell the
    /// finisher, and complete the final uploads waiting for it.
    pub(super) async fn complete(
        &self,
        id: &str,
        details: &Arc<RequestDetails>,
    ) -> Result<Option<HookResponse>, TusError> {
        let needs_info = self.observed() || self.inner.config.composer.concater.is_some();
        let info = if needs_info {
            Some(self.inner.core.get_info(id).await?)
        } else {
            None
        };
        let finish = match &info {
            Some(info) => self.pre_finish(info, details).await?,
            None => None,
        };
        if let Some(finisher) = &self.inner.config.composer.finisher {
            finisher.finish_upload(id).await?;
        }
        self.inner.metrics.finished();
        tracing::info!(id, "upload completed");
        if let Some(info) = &info {
            self.emit(EventKind::Completed, info, details);
            self.post_hook(HookName::PostFinish, info, details);
            for final_id in &info.used_by {
                if let Err(err) = self.try_complete_final(final_id, details).await {
                    tracing::warn!(id = %final_id, error = %err, "final upload could not complete");
                }
            }
        }
        Ok(finish)
    }

    /// The error for a body that did not arrive whole; the upload was interrupted.
    fn end_error(&self, end: BodyEnd, info: &FileInfo, details: &Arc<RequestDetails>) -> TusError {
        if !matches!(end, BodyEnd::TooLarge) {
            self.emit(EventKind::Interrupted, info, details);
        }
        end_error(end)
    }

    /// Progress events and post-receive hooks while a body streams, when
    /// anyone wants them.
    fn watch_progress(
        &self,
        info: &FileInfo,
        details: &Arc<RequestDetails>,
    ) -> Option<ProgressMonitor> {
        let hooks = self.hooks_for(HookName::PostReceive);
        if hooks.is_none() && !self.inner.events.wanted(EventKind::Progress) {
            return None;
        }
        let received = Arc::new(AtomicU64::new(0));
        let stop = ReleaseSignal::new();
        let done = Arc::new(tokio::sync::Notify::new());
        let stop_response = Arc::new(std::sync::Mutex::new(None));
        let task = {
            let (handler, info, details) = (self.clone(), info.clone(), details.clone());
            let (received, stop, done, stop_response) = (
                received.clone(),
                stop.clone(),
                done.clone(),
                stop_response.clone(),
            );
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(handler.inner.events.progress_interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                let mut reported = 0;
                loop {
                    let finished = tokio::select! {
                        _ = tick.tick() => false,
                        _ = done.notified() => true,
                    };
                    let now = received.load(Ordering::Relaxed);
                    if now != reported {
                        reported = now;
                        let mut current = info.clone();
                        current.offset = info.offset + now;
                        handler.emit(EventKind::Progress, &current, &details);
                        if finished {
                            handler.post_hook(HookName::PostReceive, &current, &details);
                        } else if let Some(hooks) = &hooks {
                            let event =
                                HookEvent::new(HookName::PostReceive, current, details.clone());
                            let result = hooks.post_receive(&event).await;
                            handler
                                .inner
                                .metrics
                                .hook(HookName::PostReceive.as_str(), result.is_err());
                            match result {
                                Ok(PostReceive::Stop(response)) => {
                                    *stop_response.lock().unwrap_or_else(|e| e.into_inner()) =
                                        Some(response);
                                    stop.request();
                                    return;
                                }
                                Ok(PostReceive::Continue) => {}
                                Err(err) => {
                                    tracing::warn!(error = %err, "post-receive hook failed")
                                }
                            }
                        }
                    }
                    if finished {
                        return;
                    }
                }
            })
        };
        Some(ProgressMonitor {
            received,
            stop,
            done,
            stop_response,
            task,
        })
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
    if src
        .take_hasher()
        .is_some_and(|hasher| hasher.verify(&expected))
    {
        Ok(())
    } else {
        Err(TusError::ChecksumMismatch)
    }
}

fn end_error(end: BodyEnd) -> TusError {
    match end {
        BodyEnd::Complete => TusError::BodyRead("body ended".into()),
        BodyEnd::TooLarge => TusError::BodyTooLarge,
        BodyEnd::ReleaseRequested => TusError::Interrupted,
        BodyEnd::Failed(e) => TusError::BodyRead(e.to_string()),
        BodyEnd::Stalled => TusError::Stalled,
        BodyEnd::Stopped => TusError::UploadStopped(Box::default()),
    }
}

/// The task watching one body's progress.
struct ProgressMonitor {
    received: Arc<AtomicU64>,
    stop: ReleaseSignal,
    done: Arc<tokio::sync::Notify>,
    stop_response: Arc<std::sync::Mutex<Option<HookResponse>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ProgressMonitor {
    /// Reports the last progress and returns the response of a hook that
    /// stopped the upload, if one did.
    async fn finish(self) -> Option<HookResponse> {
        self.done.notify_one();
        let _ = self.task.await;
        self.stop_response
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}
