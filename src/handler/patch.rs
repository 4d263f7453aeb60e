use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Body;

use super::{UploadHandler, content_length, is_offset_octet_stream};
use crate::body::HandlerBody;
use crate::error::{BoxError, TusError};
use crate::headers::{UPLOAD_OFFSET, parse_u64};

impl UploadHandler {
    pub(super) async fn patch_upload<B>(
        self,
        id: String,
        req: Request<B>,
    ) -> Result<Response<HandlerBody>, TusError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = req.into_parts();
        let headers = &parts.headers;
        if !is_offset_octet_stream(headers) {
            return Err(TusError::InvalidContentType);
        }
        let client_offset = headers
            .get(UPLOAD_OFFSET)
            .and_then(parse_u64)
            .ok_or(TusError::InvalidUploadOffset)?;

        let lock = self.lock(&id).await?;
        let info = self.inner.core.get_info(&id).await?;
        if info.is_final {
            return Err(TusError::Forbidden);
        }
        if client_offset != info.offset {
            return Err(TusError::OffsetMismatch {
                client: client_offset,
                server: info.offset,
            });
        }
        if let (Some(size), Some(len)) = (
            info.size,
            content_length(headers).or(body.size_hint().exact()),
        ) {
            if info.offset.saturating_add(len) > size {
                return Err(TusError::BodyTooLarge);
            }
        }
        let offset = self.write_body(&info, body, lock.as_ref()).await?;
        drop(lock);

        let mut res = Response::new(HandlerBody::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        res.headers_mut()
            .insert(UPLOAD_OFFSET, HeaderValue::from(offset));
        Ok(res)
    }
}
