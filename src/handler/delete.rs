use std::sync::Arc;

use http::{Response, StatusCode};

use super::UploadHandler;
use crate::body::HandlerBody;
use crate::error::TusError;
use crate::events::{EventKind, RequestDetails};
use crate::hooks::HookName;

impl UploadHandler {
    pub(super) async fn delete_upload(
        &self,
        id: &str,
        details: &Arc<RequestDetails>,
    ) -> Result<Response<HandlerBody>, TusError> {
        let config = &self.inner.config;
        let terminater = match &config.composer.terminater {
            Some(t) if !config.disable_termination => t.clone(),
            _ => return Err(TusError::MethodNotAllowed),
        };
        let _lock = self.lock(id).await?;
        let info = self.inner.core.get_info(id).await?;
        self.check_expired(&info)?;
        self.pre_access(&info, details).await?;
        // A partial upload stays while a final upload still needs its bytes.
        for final_id in &info.used_by {
            if let Ok(f) = self.inner.core.get_info(final_id).await {
                if !f.is_complete() {
                    return Err(TusError::Forbidden);
                }
            }
        }
        self.pre_terminate(&info, details).await?;
        terminater.terminate(id).await?;
        tracing::info!(id, "upload terminated");
        self.inner.metrics.terminated();
        self.emit(EventKind::Terminated, &info, details);
        self.post_hook(HookName::PostTerminate, &info, details);
        let mut res = Response::new(HandlerBody::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        Ok(res)
    }
}
