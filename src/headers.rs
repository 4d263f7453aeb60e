//! The tus protocol's headers: names, and typed headers for the `headers` crate.
//!
//! ```
//! use headers::HeaderMapExt;
//! use http::HeaderMap;
//! use tower_tus::headers::UploadOffset;
//!
//! let mut map = HeaderMap::new();
//! map.typed_insert(UploadOffset(42));
//! assert_eq!(map["upload-offset"], "42");
//! assert_eq!(map.typed_get::<UploadOffset>(), Some(UploadOffset(42)));
//! ```

use http::{HeaderName, HeaderValue};

/// `Tus-Resumable`: the protocol version of a request or response.
pub const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
/// `Tus-Version`: the protocol versions a server speaks.
pub const TUS_VERSION: HeaderName = HeaderName::from_static("tus-version");
/// `Tus-Extension`: the extensions a server offers.
pub const TUS_EXTENSION: HeaderName = HeaderName::from_static("tus-extension");
/// `Tus-Max-Size`: the largest upload a server accepts.
pub const TUS_MAX_SIZE: HeaderName = HeaderName::from_static("tus-max-size");
/// `Upload-Offset`.
pub const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
/// `Upload-Length`.
pub const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
/// `Upload-Defer-Length`.
pub const UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");
/// `Upload-Metadata`.
pub const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
/// `Upload-Concat`.
pub const UPLOAD_CONCAT: HeaderName = HeaderName::from_static("upload-concat");
/// `Upload-Checksum`.
pub const UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");
/// `Upload-Expires`.
pub const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
/// `X-HTTP-Method-Override`.
pub const X_HTTP_METHOD_OVERRIDE: HeaderName = HeaderName::from_static("x-http-method-override");

/// The only protocol version spoken here.
pub const TUS_VERSION_VALUE: HeaderValue = HeaderValue::from_static("1.0.0");
/// The media type of upload data.
pub const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

/// Parses a header value holding a non-negative decimal integer: digits only.
pub(crate) fn parse_u64(value: &HeaderValue) -> Option<u64> {
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 20 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

fn single<'i>(
    values: &mut impl Iterator<Item = &'i HeaderValue>,
) -> Result<&'i HeaderValue, headers::Error> {
    let value = values.next().ok_or_else(headers::Error::invalid)?;
    if values.next().is_some() {
        return Err(headers::Error::invalid());
    }
    Ok(value)
}

macro_rules! integer_header {
    ($(#[$doc:meta])* $name:ident, $header:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name(pub u64);

        impl headers::Header for $name {
            fn name() -> &'static HeaderName {
                static NAME: HeaderName = $header;
                &NAME
            }

            fn decode<'i, I: Iterator<Item = &'i HeaderValue>>(values: &mut I) -> Result<Self, headers::Error> {
                parse_u64(single(values)?).map($name).ok_or_else(headers::Error::invalid)
            }

            fn encode<E: Extend<HeaderValue>>(&self, values: &mut E) {
                values.extend(std::iter::once(HeaderValue::from(self.0)));
            }
        }
    };
}

integer_header!(
    /// `Upload-Offset`: a byte offset within an upload.
    UploadOffset,
    UPLOAD_OFFSET
);
integer_header!(
    /// `Upload-Length`: an upload's total size in bytes.
    UploadLength,
    UPLOAD_LENGTH
);
integer_header!(
    /// `Tus-Max-Size`: the largest upload a server accepts, in bytes.
    TusMaxSize,
    TUS_MAX_SIZE
);

/// `Tus-Resumable: 1.0.0`. Any other value does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TusResumable;

impl headers::Header for TusResumable {
    fn name() -> &'static HeaderName {
        static NAME: HeaderName = TUS_RESUMABLE;
        &NAME
    }

    fn decode<'i, I: Iterator<Item = &'i HeaderValue>>(
        values: &mut I,
    ) -> Result<Self, headers::Error> {
        if single(values)? == TUS_VERSION_VALUE {
            Ok(TusResumable)
        } else {
            Err(headers::Error::invalid())
        }
    }

    fn encode<E: Extend<HeaderValue>>(&self, values: &mut E) {
        values.extend(std::iter::once(TUS_VERSION_VALUE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_digits_only() {
        for bad in [
            "",
            "-1",
            "+1",
            " 1",
            "1.0",
            "0x10",
            "99999999999999999999999",
        ] {
            assert_eq!(
                parse_u64(&HeaderValue::from_str(bad).unwrap()),
                None,
                "{bad:?}"
            );
        }
        assert_eq!(parse_u64(&HeaderValue::from_static("0")), Some(0));
        assert_eq!(
            parse_u64(&HeaderValue::from_static("18446744073709551615")),
            Some(u64::MAX)
        );
    }
}
