use std::time::{Duration, SystemTime};

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method};

use super::UploadHandler;
use crate::error::TusError;
use crate::events::{EventKind, RequestDetails};
use crate::info::FileInfo;

impl UploadHandler {
    /// When the upload in state `info` expires, if it does.
    pub(super) fn expires_at(&self, info: &FileInfo) -> Option<SystemTime> {
        let config = &self.inner.config;
        let lifetime = if info.is_complete() {
            config.expire_finished_after
        } else {
            config.expire_after
        }?;
        Some(info.updated_at.or(info.created_at)? + lifetime)
    }

    /// 410 for an upload past its expiry, cleaned up or not.
    pub(super) fn check_expired(&self, info: &FileInfo) -> Result<(), TusError> {
        match self.expires_at(info) {
            Some(at) if at <= SystemTime::now() => Err(TusError::Gone),
            _ => Ok(()),
        }
    }

    pub(super) fn expires_header(&self, info: &FileInfo) -> Option<HeaderValue> {
        let at = self.expires_at(info)?;
        HeaderValue::from_str(&httpdate::fmt_http_date(at)).ok()
    }

    /// Terminates every expired upload; returns how many.
    ///
    /// Needs a composed [`Lister`](crate::Lister) and
    /// [`Terminater`](crate::Terminater); without them, or without an
    /// expiry configured, it does nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_tus::{Config, StoreComposer, UploadHandler, store::MemoryStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut composer = StoreComposer::new();
    /// MemoryStore::new().use_in(&mut composer);
    /// let handler = UploadHandler::new(Config::new(composer).expire_after(Duration::from_secs(3600)));
    /// assert_eq!(handler.cleanup_expired().await.unwrap(), 0);
    /// # }
    /// ```
    pub async fn cleanup_expired(&self) -> Result<usize, TusError> {
        let composer = &self.inner.config.composer;
        let (Some(lister), Some(terminater)) = (&composer.lister, &composer.terminater) else {
            return Ok(0);
        };
        if self.inner.config.expire_after.is_none()
            && self.inner.config.expire_finished_after.is_none()
        {
            return Ok(0);
        }
        let mut removed = 0;
        for id in lister.list_uploads().await? {
            let Ok(info) = self.inner.core.get_info(&id).await else {
                continue;
            };
            if self.check_expired(&info).is_ok() {
                continue;
            }
            let Ok(_lock) = self.lock(&id).await else {
                continue;
            };
            match terminater.terminate(&id).await {
                Ok(()) => {
                    removed += 1;
                    tracing::info!(id, "expired upload removed");
                    self.inner.metrics.terminated();
                    let request = Arc::new(RequestDetails::new(
                        Method::DELETE,
                        format!("{}{id}", self.inner.config.base_path)
                            .parse()
                            .unwrap_or_default(),
                        HeaderMap::new(),
                        None,
                    ));
                    self.emit(EventKind::Terminated, &info, &request);
                }
                Err(err) => tracing::warn!(id, error = %err, "expired upload could not be removed"),
            }
        }
        Ok(removed)
    }

    /// Runs [`cleanup_expired`](Self::cleanup_expired) every `every` on the
    /// current tokio runtime, until the returned task is aborted.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_tus::{Config, StoreComposer, UploadHandler, store::MemoryStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut composer = StoreComposer::new();
    /// MemoryStore::new().use_in(&mut composer);
    /// let handler = UploadHandler::new(Config::new(composer).expire_after(Duration::from_secs(3600)));
    /// let cleanup = handler.spawn_cleanup(Duration::from_secs(60));
    /// cleanup.abort();
    /// # }
    /// ```
    pub fn spawn_cleanup(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let handler = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(err) = handler.cleanup_expired().await {
                    tracing::warn!(error = %err, "cleanup of expired uploads failed");
                }
            }
        })
    }
}
