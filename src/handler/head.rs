use std::sync::Arc;

use http::{HeaderValue, Response, StatusCode, header};

use super::UploadHandler;
use crate::body::HandlerBody;
use crate::error::TusError;
use crate::events::RequestDetails;
use crate::headers::{
    UPLOAD_CONCAT, UPLOAD_DEFER_LENGTH, UPLOAD_EXPIRES, UPLOAD_LENGTH, UPLOAD_METADATA,
    UPLOAD_OFFSET,
};
use crate::metadata;

impl UploadHandler {
    pub(super) async fn head_upload(
        &self,
        id: &str,
        details: &Arc<RequestDetails>,
    ) -> Result<Response<HandlerBody>, TusError> {
        let mut open = self.open(id, None, details).await?;
        open.retry_finish().await?;
        let info = open.upload.info();
        let mut res = Response::new(HandlerBody::empty());
        *res.status_mut() = StatusCode::OK;
        let headers = res.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        // A final upload still waiting for its partials has no offset to tell.
        if !info.is_final || info.is_complete() {
            headers.insert(UPLOAD_OFFSET, HeaderValue::from(info.offset));
        }
        match info.size {
            Some(size) => headers.insert(UPLOAD_LENGTH, HeaderValue::from(size)),
            None => headers.insert(UPLOAD_DEFER_LENGTH, HeaderValue::from_static("1")),
        };
        if !info.metadata.is_empty()
            && let Ok(v) = HeaderValue::from_str(&metadata::serialize(&info.metadata))
        {
            headers.insert(UPLOAD_METADATA, v);
        }
        if let Some(concat) = self.concat_header(info, self.upload_base(details)) {
            headers.insert(UPLOAD_CONCAT, concat);
        }
        if let Some(expires) = self.expires_header(info) {
            headers.insert(UPLOAD_EXPIRES, expires);
        }
        Ok(res)
    }
}
