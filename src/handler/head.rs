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
use crate::info::FileInfo;
use crate::lock::LockMode;
use crate::metadata;

impl UploadHandler {
    pub(super) async fn head_upload(
        &self,
        id: &str,
        details: &Arc<RequestDetails>,
    ) -> Result<Response<HandlerBody>, TusError> {
        // A request still holding the upload (the client's own, cut a moment
        // ago and still storing what arrived, or half-dead) is asked to let
        // go first: the offset told is then everything kept, which is what a
        // client about to resume needs. A holder busy with the server's own
        // work (a final being joined) does not let go; the stored state is
        // told then.
        let mut open = match self.open(id, Some(LockMode::TakeOver), details).await {
            Err(TusError::LockTimeout) => self.open(id, None, details).await?,
            opened => opened?,
        };
        open.retry_finish().await?;
        let res = self.head_response(open.upload.info(), details);
        open.release().await;
        Ok(res)
    }

    fn head_response(&self, info: &FileInfo, details: &RequestDetails) -> Response<HandlerBody> {
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
        res
    }
}
