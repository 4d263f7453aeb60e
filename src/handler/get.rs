use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use super::UploadHandler;
use super::download::{content_disposition, content_type};
use crate::body::HandlerBody;
use crate::error::TusError;
use crate::events::RequestDetails;
use crate::info::FileInfo;
use crate::store::{Content, Extension};

impl UploadHandler {
    /// Streams the bytes received so far, or the requested range of them.
    pub(super) async fn get_upload(
        &self,
        id: &str,
        req: &HeaderMap,
        details: &Arc<RequestDetails>,
    ) -> Result<Response<HandlerBody>, TusError> {
        let downloads = self.offers(Extension::Content) || self.offers(Extension::FinishedContent);
        if !downloads || self.inner.config.disable_download {
            return Err(TusError::MethodNotAllowed);
        }
        let mut open = self.open(id, None, details).await?;
        open.retry_finish().await?;
        let info = open.upload.info();
        if !self.offers(Extension::Content) && !info.finished {
            return Err(TusError::NotFinished);
        }
        // A final upload is served once it holds all its bytes.
        let total = if info.is_final && !info.is_complete() {
            0
        } else {
            info.offset
        };
        let etag = etag(info);
        let modified = info.updated_at.map(whole_seconds);

        let mut res = Response::new(HandlerBody::empty());
        let headers = res.headers_mut();
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        headers.insert(header::ETAG, etag.clone());
        if let Some(m) = modified
            && let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(m))
        {
            headers.insert(header::LAST_MODIFIED, v);
        }
        if not_modified(req, &etag, modified) {
            *res.status_mut() = StatusCode::NOT_MODIFIED;
            return Ok(res);
        }
        let range = if range_applies(req, &etag, modified) {
            match req.get(header::RANGE).map(|r| parse_range(r, total)) {
                Some(RangeRequest::Unsatisfiable) => {
                    *res.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
                    res.headers_mut().insert(
                        header::CONTENT_RANGE,
                        HeaderValue::from_str(&format!("bytes */{total}")).expect("digits"),
                    );
                    return Ok(res);
                }
                Some(RangeRequest::Range(start, end)) => Some((start, end)),
                Some(RangeRequest::Ignored) | None => None,
            }
        } else {
            None
        };

        let (start, len) = match range {
            Some((start, end)) => (start, end - start + 1),
            None => (0, total),
        };
        let data = match open.upload.content(start..start + len).await? {
            Content::Body(body) => body,
            Content::Redirect(uri) => {
                let mut res = Response::new(HandlerBody::empty());
                *res.status_mut() = StatusCode::TEMPORARY_REDIRECT;
                if let Ok(v) = HeaderValue::from_str(&uri.to_string()) {
                    res.headers_mut().insert(header::LOCATION, v);
                }
                return Ok(res);
            }
        };
        let (mime, kind) = content_type(info.metadata.get_str("filetype"));
        *res.body_mut() = HandlerBody::content(data);
        if let Some((start, end)) = range {
            *res.status_mut() = StatusCode::PARTIAL_CONTENT;
            res.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {start}-{end}/{total}")).expect("digits"),
            );
        } else {
            *res.status_mut() = StatusCode::OK;
        }
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
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

/// Bytes at an offset never change once written, except when a chunk
/// failing its checksum is cut away and rewritten: the length and the time
/// of the last write together name the content.
fn etag(info: &FileInfo) -> HeaderValue {
    let nanos = info
        .updated_at
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    HeaderValue::from_str(&format!("\"{:x}-{:x}\"", info.offset, nanos)).expect("hex digits")
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn header_date(req: &HeaderMap, name: header::HeaderName) -> Option<SystemTime> {
    httpdate::parse_http_date(req.get(name)?.to_str().ok()?).ok()
}

/// `If-None-Match`, or else `If-Modified-Since`, says the client's copy is current.
fn not_modified(req: &HeaderMap, etag: &HeaderValue, modified: Option<SystemTime>) -> bool {
    if let Some(inm) = req.get(header::IF_NONE_MATCH) {
        let Ok(inm) = inm.to_str() else { return false };
        let ours = etag.to_str().unwrap_or("");
        return inm
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == ours);
    }
    match (header_date(req, header::IF_MODIFIED_SINCE), modified) {
        (Some(since), Some(m)) => m <= since,
        _ => false,
    }
}

/// `If-Range`: the range applies only to the representation the client has.
fn range_applies(req: &HeaderMap, etag: &HeaderValue, modified: Option<SystemTime>) -> bool {
    let Some(if_range) = req.get(header::IF_RANGE) else {
        return true;
    };
    if if_range == etag {
        return true;
    }
    match (
        if_range
            .to_str()
            .ok()
            .and_then(|s| httpdate::parse_http_date(s).ok()),
        modified,
    ) {
        (Some(date), Some(m)) => m == date,
        _ => false,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum RangeRequest {
    /// Inclusive byte positions.
    Range(u64, u64),
    Unsatisfiable,
    /// Not a single byte range this server serves: answered in full.
    Ignored,
}

fn parse_range(value: &HeaderValue, total: u64) -> RangeRequest {
    // Range units are case-insensitive (RFC 9110, section 14.1).
    let Some(spec) = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once('='))
        .filter(|(unit, _)| unit.trim().eq_ignore_ascii_case("bytes"))
        .map(|(_, spec)| spec)
    else {
        return RangeRequest::Ignored;
    };
    if spec.contains(',') {
        return RangeRequest::Ignored;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Ignored;
    };
    // A position too large for a u64 is still a valid one, past any
    // upload's end.
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().unwrap_or(u64::MAX))
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if total == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Range(total.saturating_sub(n), total - 1),
            None => RangeRequest::Ignored,
        },
        (start, "") => match number(start) {
            Some(s) if s < total => RangeRequest::Range(s, total - 1),
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Ignored,
        },
        (start, end) => match (number(start), number(end)) {
            (Some(s), Some(e)) if s > e => RangeRequest::Ignored,
            (Some(s), Some(_)) if s >= total => RangeRequest::Unsatisfiable,
            (Some(s), Some(e)) => RangeRequest::Range(s, e.min(total - 1)),
            _ => RangeRequest::Ignored,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str, total: u64) -> RangeRequest {
        parse_range(&HeaderValue::from_str(s).unwrap(), total)
    }

    #[test]
    fn ranges_at_the_edges() {
        assert_eq!(r("bytes=0-0", 10), RangeRequest::Range(0, 0));
        assert_eq!(r("bytes=9-9", 10), RangeRequest::Range(9, 9));
        assert_eq!(r("bytes=5-", 10), RangeRequest::Range(5, 9));
        assert_eq!(r("bytes=-3", 10), RangeRequest::Range(7, 9));
        assert_eq!(r("bytes=-30", 10), RangeRequest::Range(0, 9));
        assert_eq!(r("bytes=2-100", 10), RangeRequest::Range(2, 9));
        assert_eq!(r("bytes=10-", 10), RangeRequest::Unsatisfiable);
        assert_eq!(r("bytes=10-12", 10), RangeRequest::Unsatisfiable);
        assert_eq!(r("bytes=-0", 10), RangeRequest::Unsatisfiable);
        assert_eq!(r("bytes=0-", 0), RangeRequest::Unsatisfiable);
        assert_eq!(r("bytes=5-2", 10), RangeRequest::Ignored);
        assert_eq!(r("bytes=0-1,3-4", 10), RangeRequest::Ignored);
        assert_eq!(r("items=0-1", 10), RangeRequest::Ignored);
        assert_eq!(r("bytes=a-b", 10), RangeRequest::Ignored);
    }

    #[test]
    fn positions_past_a_u64_are_past_the_end() {
        let huge = "99999999999999999999999";
        assert_eq!(
            r(&format!("bytes={huge}-"), 10),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(
            r(&format!("bytes={huge}-{huge}"), 10),
            RangeRequest::Unsatisfiable
        );
        assert_eq!(r(&format!("bytes=3-{huge}"), 10), RangeRequest::Range(3, 9));
        assert_eq!(r(&format!("bytes=-{huge}"), 10), RangeRequest::Range(0, 9));
    }

    #[test]
    fn the_range_unit_is_case_insensitive() {
        assert_eq!(r("Bytes=0-1", 10), RangeRequest::Range(0, 1));
        assert_eq!(r("BYTES=-2", 10), RangeRequest::Range(8, 9));
        assert_eq!(r("bytesx=0-1", 10), RangeRequest::Ignored);
    }
}
