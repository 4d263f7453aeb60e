use http::{HeaderName, HeaderValue, Response, StatusCode};

use super::UploadHandler;
use crate::body::HandlerBody;
use crate::checksum::Algorithm;
use crate::headers::{TUS_EXTENSION, TUS_MAX_SIZE, TUS_VERSION, TUS_VERSION_VALUE};

const TUS_CHECKSUM_ALGORITHM: HeaderName = HeaderName::from_static("tus-checksum-algorithm");

impl UploadHandler {
    /// 200 rather than 204: some browsers refuse a preflight answered with 204.
    pub(super) fn options_response(&self) -> Response<HandlerBody> {
        let mut res = Response::new(HandlerBody::empty());
        *res.status_mut() = StatusCode::OK;
        let headers = res.headers_mut();
        headers.insert(TUS_VERSION, TUS_VERSION_VALUE);
        headers.insert(TUS_EXTENSION, self.inner.extensions.clone());
        if let Some(max) = self.inner.config.max_size {
            headers.insert(TUS_MAX_SIZE, HeaderValue::from(max));
        }
        if self.offers(crate::store::Extension::VerifiedWrites)
            && let Ok(v) = HeaderValue::from_str(&Algorithm::header_value())
        {
            headers.insert(TUS_CHECKSUM_ALGORITHM, v);
        }
        res
    }
}
