//! Where the handler meets hooks, events and metrics.

use std::sync::Arc;

use http::{HeaderMap, Method};

use super::UploadHandler;
use crate::error::TusError;
use crate::events::{EventKind, RequestDetails};
use crate::hooks::{Decision, HookError, HookEvent, HookName, HookResponse, Hooks, PreCreate};
use crate::info::FileInfo;
use crate::metadata::Metadata;

impl UploadHandler {
    /// The hooks, when `name` does anything.
    pub(super) fn hooks_for(&self, name: HookName) -> Option<Arc<dyn Hooks>> {
        let hooks = &self.inner.config.hooks.as_ref()?.0;
        hooks.enabled(name).then(|| hooks.clone())
    }

    /// Whether hooks or events may need the request's details.
    pub(super) fn observed(&self) -> bool {
        self.inner.config.hooks.is_some() || !self.inner.config.event_kinds.is_empty()
    }

    pub(super) fn request_details(
        &self,
        method: &Method,
        uri: &http::Uri,
        headers: &HeaderMap,
        extensions: &http::Extensions,
    ) -> Arc<RequestDetails> {
        let headers = if self.observed() {
            headers.clone()
        } else {
            HeaderMap::new()
        };
        let mut details = RequestDetails::new(
            method.clone(),
            uri.clone(),
            headers,
            remote_addr(extensions),
        );
        details.upload_base = Some(self.request_upload_base(uri.path(), extensions));
        Arc::new(details)
    }

    pub(super) fn emit(&self, kind: EventKind, info: &FileInfo, details: &Arc<RequestDetails>) {
        if self.inner.events.wanted(kind) {
            self.inner.events.send(kind, info.clone(), details.clone());
        }
    }

    fn hook_failed(&self, name: HookName, message: String) -> TusError {
        tracing::warn!(hook = name.as_str(), %message, "hook failed");
        TusError::HookFailed {
            hook: name.as_str(),
            message,
        }
    }

    /// pre-access: may the request touch this upload?
    pub(super) async fn pre_access(
        &self,
        info: &FileInfo,
        details: &Arc<RequestDetails>,
    ) -> Result<(), TusError> {
        self.decide(HookName::PreAccess, info, details).await
    }

    /// pre-terminate: may the upload be terminated?
    pub(super) async fn pre_terminate(
        &self,
        info: &FileInfo,
        details: &Arc<RequestDetails>,
    ) -> Result<(), TusError> {
        self.decide(HookName::PreTerminate, info, details).await
    }

    async fn decide(
        &self,
        name: HookName,
        info: &FileInfo,
        details: &Arc<RequestDetails>,
    ) -> Result<(), TusError> {
        let Some(hooks) = self.hooks_for(name) else {
            return Ok(());
        };
        let event = HookEvent::new(name, info.clone(), details.clone());
        let result = match name {
            HookName::PreTerminate => {
                self.with_hook_timeout(name, hooks.pre_terminate(&event))
                    .await
            }
            _ => self.with_hook_timeout(name, hooks.pre_access(&event)).await,
        };
        self.inner.metrics.hook(name.as_str(), result.is_err());
        match result {
            Ok(Decision::Allow) => Ok(()),
            Ok(Decision::Reject(response)) => Err(TusError::HookRejected {
                hook: name.as_str(),
                response: Box::new(response),
            }),
            Err(err) => Err(self.hook_failed(name, err.0)),
        }
    }

    /// pre-create: the id and metadata to create the upload with.
    pub(super) async fn pre_create(
        &self,
        pending: &FileInfo,
        details: &Arc<RequestDetails>,
    ) -> Result<(String, Metadata), TusError> {
        let mut id = None;
        let mut metadata = pending.metadata.clone();
        if let Some(hooks) = self.hooks_for(HookName::PreCreate) {
            let event = HookEvent::new(HookName::PreCreate, pending.clone(), details.clone());
            let result = self
                .with_hook_timeout(HookName::PreCreate, hooks.pre_create(&event))
                .await;
            self.inner
                .metrics
                .hook(HookName::PreCreate.as_str(), result.is_err());
            match result {
                Ok(PreCreate::Allow {
                    id: new_id,
                    metadata: new_metadata,
                }) => {
                    if let Some(new_id) = new_id {
                        if !crate::id::is_valid_id(&new_id) {
                            return Err(self.hook_failed(
                                HookName::PreCreate,
                                format!("chose an invalid upload id {new_id:?}"),
                            ));
                        }
                        id = Some(new_id);
                    }
                    if let Some(new_metadata) = new_metadata {
                        metadata = new_metadata;
                    }
                }
                Ok(PreCreate::Reject(response)) => {
                    return Err(TusError::HookRejected {
                        hook: HookName::PreCreate.as_str(),
                        response: Box::new(response),
                    });
                }
                Err(err) => return Err(self.hook_failed(HookName::PreCreate, err.0)),
            }
        }
        let id = match id {
            Some(id) => id,
            None => self.new_id()?,
        };
        Ok((id, metadata))
    }

    /// pre-finish: what to add to the response that completed the upload.
    pub(super) async fn pre_finish(
        &self,
        info: &FileInfo,
        details: &Arc<RequestDetails>,
    ) -> Result<Option<HookResponse>, TusError> {
        let Some(hooks) = self.hooks_for(HookName::PreFinish) else {
            return Ok(None);
        };
        let event = HookEvent::new(HookName::PreFinish, info.clone(), details.clone());
        let result = self
            .with_hook_timeout(HookName::PreFinish, hooks.pre_finish(&event))
            .await;
        self.inner
            .metrics
            .hook(HookName::PreFinish.as_str(), result.is_err());
        match result {
            Ok(response) => Ok((!response.is_empty()).then_some(response)),
            Err(err) => Err(self.hook_failed(HookName::PreFinish, err.0)),
        }
    }

    /// Runs a hook call under the configured hook timeout.
    pub(super) async fn with_hook_timeout<T>(
        &self,
        name: HookName,
        call: impl Future<Output = Result<T, HookError>>,
    ) -> Result<T, HookError> {
        let timeout = self.inner.config.hook_timeout;
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(HookError::new(format!(
                "the {} hook gave no answer within {timeout:?}",
                name.as_str()
            ))),
        }
    }

    /// Runs a post-hook on its own task: it never delays the response.
    pub(super) fn post_hook(&self, name: HookName, info: &FileInfo, details: &Arc<RequestDetails>) {
        let Some(hooks) = self.hooks_for(name) else {
            return;
        };
        let event = HookEvent::new(name, info.clone(), details.clone());
        let metrics = self.inner.metrics.clone();
        let timeout = self.inner.config.hook_timeout;
        tokio::spawn(async move {
            let call = async {
                match name {
                    HookName::PostCreate => hooks.post_create(&event).await,
                    HookName::PostFinish => hooks.post_finish(&event).await,
                    HookName::PostTerminate => hooks.post_terminate(&event).await,
                    HookName::PostReceive => hooks.post_receive(&event).await.map(drop),
                    _ => Ok(()),
                }
            };
            let result = match tokio::time::timeout(timeout, call).await {
                Ok(result) => result,
                Err(_) => Err(HookError::new(format!("no answer within {timeout:?}"))),
            };
            metrics.hook(name.as_str(), result.is_err());
            if let Err(err) = result {
                tracing::warn!(hook = name.as_str(), error = %err, "hook failed");
            }
        });
    }
}

/// The client's address: a `SocketAddr` the server put in the extensions,
/// or axum's `ConnectInfo<SocketAddr>`.
fn remote_addr(extensions: &http::Extensions) -> Option<std::net::SocketAddr> {
    let plain = extensions.get::<std::net::SocketAddr>().copied();
    #[cfg(feature = "axum")]
    let plain = plain.or_else(|| {
        extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0)
    });
    plain
}
