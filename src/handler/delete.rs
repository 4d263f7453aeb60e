use std::sync::Arc;

use http::{Response, StatusCode};

use super::UploadHandler;
use crate::body::HandlerBody;
use crate::error::TusError;
use crate::events::RequestDetails;
use crate::lock::LockMode;
use crate::store::Extension;

impl UploadHandler {
    pub(super) async fn delete_upload(
        &self,
        id: &str,
        details: &Arc<RequestDetails>,
    ) -> Result<Response<HandlerBody>, TusError> {
        if !self.offers(Extension::Termination) || self.inner.config.disable_termination {
            return Err(TusError::MethodNotAllowed);
        }
        let mut open = self.open(id, Some(LockMode::TakeOver), details).await?;
        let result = open.terminate_for_client().await;
        open.release().await;
        result?;
        let mut res = Response::new(HandlerBody::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        Ok(res)
    }
}
