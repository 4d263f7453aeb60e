use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::Body;

use super::{UploadHandler, content_length, is_offset_octet_stream};
use crate::body::HandlerBody;
use crate::error::{BoxError, TusError};
use crate::headers::{
    UPLOAD_CONCAT, UPLOAD_DEFER_LENGTH, UPLOAD_LENGTH, UPLOAD_METADATA, UPLOAD_OFFSET, parse_u64,
};
use crate::id::is_valid_id;
use crate::info::FileInfo;
use crate::metadata::{self, Metadata, MetadataError};

impl UploadHandler {
    pub(super) async fn post_upload<B>(
        self,
        req: Request<B>,
    ) -> Result<Response<HandlerBody>, TusError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = req.into_parts();
        let headers = &parts.headers;
        let config = &self.inner.config;

        if headers.contains_key(UPLOAD_CONCAT) {
            return Err(TusError::ExtensionNotSupported("concatenation"));
        }
        if let Some(defer) = headers.get(UPLOAD_DEFER_LENGTH) {
            if defer != "1" || headers.contains_key(UPLOAD_LENGTH) {
                return Err(TusError::InvalidDeferLength);
            }
            return Err(TusError::ExtensionNotSupported("creation-defer-length"));
        }
        let size = headers
            .get(UPLOAD_LENGTH)
            .and_then(parse_u64)
            .ok_or(TusError::InvalidUploadLength)?;
        if let Some(max) = config.max_size {
            if size > max {
                return Err(TusError::MaxSizeExceeded { max });
            }
        }
        let metadata = match headers.get(UPLOAD_METADATA) {
            None => Metadata::new(),
            Some(v) => {
                let text = v.to_str().map_err(|_| {
                    TusError::InvalidMetadata(MetadataError::InvalidKey(String::new()))
                })?;
                metadata::parse(text)?
            }
        };
        let with_data = is_offset_octet_stream(headers);
        if with_data
            && content_length(headers)
                .or(body.size_hint().exact())
                .is_some_and(|len| len > size)
        {
            return Err(TusError::BodyTooLarge);
        }

        let id = config.make_upload_id.make();
        if !is_valid_id(&id) {
            return Err(TusError::InvalidGeneratedId);
        }
        let info = self
            .inner
            .core
            .new_upload(
                FileInfo::new(id)
                    .with_size(Some(size))
                    .with_metadata(metadata),
            )
            .await?;
        tracing::info!(id = %info.id, size, "upload created");
        let location = self.location(headers, &info.id);

        let offset = if with_data {
            let lock = self.lock(&info.id).await?;
            self.write_body(&info, body, lock.as_ref()).await?
        } else {
            if size == 0 {
                self.complete(&info.id).await?;
            }
            0
        };

        let mut res = Response::new(HandlerBody::empty());
        *res.status_mut() = StatusCode::CREATED;
        let out = res.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&location) {
            out.insert(header::LOCATION, v);
        }
        out.insert(UPLOAD_OFFSET, HeaderValue::from(offset));
        Ok(res)
    }
}
