use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use super::UploadHandler;
use super::download::{content_disposition, content_type};
use crate::body::HandlerBody;
use crate::error::TusError;

impl UploadHandler {
    /// Streams the bytes received so far.
    pub(super) async fn get_upload(
        &self,
        id: &str,
        _headers: &HeaderMap,
    ) -> Result<Response<HandlerBody>, TusError> {
        let config = &self.inner.config;
        let reader = match &config.composer.get_reader {
            Some(r) if !config.disable_download => r.clone(),
            _ => return Err(TusError::MethodNotAllowed),
        };
        let info = self.inner.core.get_info(id).await?;
        let data = reader.get_reader(id).await?;
        let (mime, kind) = content_type(info.metadata.get_str("filetype"));

        let mut res = Response::new(HandlerBody::reader(data, info.offset));
        *res.status_mut() = StatusCode::OK;
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(info.offset));
        headers.insert(header::CONTENT_TYPE, mime);
        headers.insert(
            header::CONTENT_DISPOSITION,
            content_disposition(kind, info.metadata.get("filename")),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        Ok(res)
    }
}
