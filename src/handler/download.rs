//! Which uploads a browser may render inline, and a safe `Content-Disposition`.

use http::HeaderValue;

/// Media types a browser may render inline without running anything.
const INLINE_TYPES: &[&str] = &[
    "text/plain",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/bmp",
    "image/webp",
    "image/avif",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-pn-wav",
    "audio/webm",
    "audio/ogg",
    "audio/mpeg",
    "audio/mp4",
    "video/webm",
    "video/ogg",
    "video/mp4",
    "application/ogg",
    "application/pdf",
];

/// The `Content-Type` and disposition kind for an upload's `filetype`.
///
/// Only a type on the inline list is sent as itself (its parameters
/// dropped); anything else is an opaque attachment.
pub(super) fn content_type(filetype: Option<&str>) -> (HeaderValue, &'static str) {
    let essence = filetype
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    match INLINE_TYPES.iter().find(|t| **t == essence) {
        Some(t) => (HeaderValue::from_static(t), "inline"),
        None => (
            HeaderValue::from_static("application/octet-stream"),
            "attachment",
        ),
    }
}

/// `kind; filename="…"; filename*=UTF-8''…`, with nothing in the name able
/// to end the header or the parameter.
pub(super) fn content_disposition(kind: &'static str, filename: Option<&[u8]>) -> HeaderValue {
    let Some(name) = filename.filter(|n| !n.is_empty()) else {
        return HeaderValue::from_static(kind);
    };
    let name = String::from_utf8_lossy(name);
    let ascii: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::new();
    for b in name.as_bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(b) {
            encoded.push(*b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_types_are_inline() {
        assert_eq!(content_type(Some("image/png")).1, "inline");
        assert_eq!(content_type(Some("IMAGE/PNG; x=y")).0, "image/png");
        assert_eq!(
            content_type(Some("text/html")).0,
            "application/octet-stream"
        );
        assert_eq!(content_type(Some("image/svg+xml")).1, "attachment");
        assert_eq!(content_type(None).1, "attachment");
    }

    #[test]
    fn filenames_cannot_break_out() {
        let v = content_disposition("attachment", Some(b"a\"b\r\nX-Evil: 1\\.txt"));
        let s = v.to_str().unwrap();
        assert_eq!(
            s,
            "attachment; filename=\"a_b__X-Evil: 1_.txt\"; filename*=UTF-8''a%22b%0D%0AX-Evil%3A%201%5C.txt"
        );
        let v = content_disposition("inline", Some("résumé.pdf".as_bytes()));
        assert!(v.to_str().unwrap().ends_with("UTF-8''r%C3%A9sum%C3%A9.pdf"));
    }
}
