use http::{Response, StatusCode};

use super::UploadHandler;
use crate::body::HandlerBody;
use crate::error::TusError;

impl UploadHandler {
    pub(super) async fn delete_upload(&self, id: &str) -> Result<Response<HandlerBody>, TusError> {
        let config = &self.inner.config;
        let terminater = match &config.composer.terminater {
            Some(t) if !config.disable_termination => t.clone(),
            _ => return Err(TusError::MethodNotAllowed),
        };
        let _lock = self.lock(id).await?;
        let info = self.inner.core.get_info(id).await?;
        self.check_expired(&info)?;
        // A partial upload stays while a final upload still needs its bytes.
        for final_id in &info.used_by {
            if let Ok(f) = self.inner.core.get_info(final_id).await {
                if !f.is_complete() {
                    return Err(TusError::Forbidden);
                }
            }
        }
        terminater.terminate(id).await?;
        tracing::info!(id, "upload terminated");
        let mut res = Response::new(HandlerBody::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        Ok(res)
    }
}
