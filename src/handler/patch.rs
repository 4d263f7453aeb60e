use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Body;

use std::sync::Arc;

use super::{UploadHandler, content_length, is_offset_octet_stream, with_hook_response};
use crate::body::HandlerBody;
use crate::error::{BoxError, TusError};
use crate::events::RequestDetails;
use crate::headers::{UPLOAD_EXPIRES, UPLOAD_LENGTH, UPLOAD_OFFSET, parse_u64};

impl UploadHandler {
    pub(super) async fn patch_upload<B>(
        self,
        id: String,
        req: Request<B>,
        details: Arc<RequestDetails>,
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
        let new_length = match headers.get(UPLOAD_LENGTH) {
            Some(v) => Some(parse_u64(v).ok_or(TusError::InvalidUploadLength)?),
            None => None,
        };
        let checksum = self.checksum_request(headers)?;

        let lock = self.lock(&id).await?;
        let mut info = self.inner.core.get_info(&id).await?;
        self.check_expired(&info)?;
        self.pre_access(&info, &details).await?;
        if info.is_final {
            return Err(TusError::Forbidden);
        }
        if client_offset != info.offset {
            return Err(TusError::OffsetMismatch {
                client: client_offset,
                server: info.offset,
            });
        }
        let mut declared_now = false;
        match (info.size, new_length) {
            (Some(size), Some(len)) if size != len => return Err(TusError::LengthChange),
            (None, Some(len)) => {
                self.declare_length(&info.id, info.offset, len).await?;
                info.size = Some(len);
                declared_now = true;
            }
            _ => {}
        }
        if let (Some(size), Some(len)) = (
            info.size,
            content_length(headers).or(body.size_hint().exact()),
        ) {
            if info.offset.saturating_add(len) > size {
                return Err(TusError::BodyTooLarge);
            }
        }
        let (offset, mut finish) = self
            .write_body(&info, body, lock.as_ref(), checksum, &details)
            .await?;
        if declared_now && info.is_complete() {
            // The deferred length was declared equal to what had already arrived.
            finish = self.complete(&info.id, &details).await?;
        }
        drop(lock);

        let mut res = Response::new(HandlerBody::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        res.headers_mut()
            .insert(UPLOAD_OFFSET, HeaderValue::from(offset));
        if let Some(expires) = self.expires_after_write(&info, offset) {
            res.headers_mut().insert(UPLOAD_EXPIRES, expires);
        }
        Ok(with_hook_response(res, finish))
    }

    /// Fixes a deferred length, under the size limit and not below what arrived.
    async fn declare_length(&self, id: &str, offset: u64, length: u64) -> Result<(), TusError> {
        let config = &self.inner.config;
        let deferrer = config
            .composer
            .length_deferrer
            .clone()
            .ok_or(TusError::ExtensionNotSupported("creation-defer-length"))?;
        if let Some(max) = config.max_size {
            if length > max {
                return Err(TusError::MaxSizeExceeded { max });
            }
        }
        if length < offset {
            return Err(TusError::InvalidUploadLength);
        }
        deferrer.declare_length(id, length).await?;
        Ok(())
    }
}
