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
        self.inner.core.get_info(id).await?;
        terminater.terminate(id).await?;
        let mut res = Response::new(HandlerBody::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        Ok(res)
    }
}
