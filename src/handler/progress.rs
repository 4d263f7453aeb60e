//! Progress events and post-receive hooks while a body streams.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::UploadHandler;
use crate::events::{EventKind, RequestDetails};
use crate::hooks::{HookEvent, HookName, HookResponse, PostReceive};
use crate::info::FileInfo;
use crate::lock::Signal;

/// The task watching one body's progress.
pub(super) struct ProgressMonitor {
    pub(super) received: Arc<AtomicU64>,
    pub(super) stop: Signal,
    reported: Arc<AtomicU64>,
    done: Signal,
    stop_response: Arc<Mutex<Option<HookResponse>>>,
    handler: UploadHandler,
    info: FileInfo,
    details: Arc<RequestDetails>,
}

impl ProgressMonitor {
    /// Ends the watch without waiting for a post-receive hook still running:
    /// only a stop that has already arrived counts. The last progress event
    /// goes out now, before whatever the request does next; the last
    /// post-receive runs on its own task.
    pub(super) fn finish(self) -> Option<HookResponse> {
        self.done.raise();
        let now = self.received.load(Ordering::Relaxed);
        if self.reported.swap(now, Ordering::Relaxed) != now {
            let mut current = self.info.clone();
            current.offset = self.info.offset + now;
            self.handler
                .emit(EventKind::Progress, &current, &self.details);
            self.handler
                .post_hook(HookName::PostReceive, &current, &self.details);
        }
        if !self.stop.is_raised() {
            return None;
        }
        self.stop_response
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

impl UploadHandler {
    /// Watches a body streaming into the upload in state `info`, when anyone
    /// wants progress events or post-receive hooks.
    pub(super) fn watch_progress(
        &self,
        info: &FileInfo,
        details: &Arc<RequestDetails>,
    ) -> Option<ProgressMonitor> {
        let hooks = self.hooks_for(HookName::PostReceive);
        if hooks.is_none() && !self.inner.events.wanted(EventKind::Progress) {
            return None;
        }
        let received = Arc::new(AtomicU64::new(0));
        let reported = Arc::new(AtomicU64::new(0));
        let stop = Signal::new();
        let done = Signal::new();
        let stop_response = Arc::new(Mutex::new(None));
        let monitor = ProgressMonitor {
            received,
            stop,
            reported,
            done,
            stop_response,
            handler: self.clone(),
            info: info.clone(),
            details: details.clone(),
        };
        let (handler, info, details) = (self.clone(), info.clone(), details.clone());
        let (counter, last_reported, stopper, finished, response) = (
            monitor.received.clone(),
            monitor.reported.clone(),
            monitor.stop.clone(),
            monitor.done.clone(),
            monitor.stop_response.clone(),
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(handler.inner.events.progress_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = finished.raised() => return,
                }
                let now = counter.load(Ordering::Relaxed);
                if last_reported.swap(now, Ordering::Relaxed) != now {
                    let mut current = info.clone();
                    current.offset = info.offset + now;
                    handler.emit(EventKind::Progress, &current, &details);
                    if let Some(hooks) = &hooks {
                        let event = HookEvent::new(HookName::PostReceive, current, details.clone());
                        let result = handler
                            .with_hook_timeout(HookName::PostReceive, hooks.post_receive(&event))
                            .await;
                        handler
                            .inner
                            .metrics
                            .hook(HookName::PostReceive.as_str(), result.is_err());
                        match result {
                            Ok(PostReceive::Stop(hook_response)) if !finished.is_raised() => {
                                *response.lock().unwrap_or_else(|e| e.into_inner()) =
                                    Some(hook_response);
                                stopper.raise();
                                return;
                            }
                            Ok(_) => {}
                            Err(err) => {
                                tracing::warn!(error = %err, "post-receive hook failed")
                            }
                        }
                    }
                }
                if finished.is_raised() {
                    return;
                }
            }
        });
        Some(monitor)
    }
}
