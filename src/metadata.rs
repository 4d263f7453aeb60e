//! The `Upload-Metadata` header: parsing and serializing.
//!
//! The header is a comma-separated list of `key base64(value)` pairs; a key
//! may come without a value. Keys are unique, non-empty ASCII without spaces
//! or commas; values are arbitrary bytes.
//!
//! ```
//! use tower_tus::metadata;
//!
//! let md = metadata::parse("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential").unwrap();
//! assert_eq!(md.get_str("filename"), Some("world_domination_plan.pdf"));
//! assert_eq!(md.get("is_confidential"), Some(&b""[..]));
//! assert_eq!(metadata::parse(&metadata::serialize(&md)).unwrap(), md);
//! ```

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard base64 that accepts values with or without padding.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// An upload's metadata: unique keys, each with a value of raw bytes.
///
/// ```
/// use tower_tus::metadata::Metadata;
///
/// let mut md = Metadata::new();
/// md.insert("filetype", "image/png");
/// assert_eq!(md.get_str("filetype"), Some("image/png"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata(BTreeMap<String, Vec<u8>>);

impl Metadata {
    /// Empty metadata.
    pub fn new() -> Self {
        Self::default()
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.0.get(key).map(Vec::as_slice)
    }

    /// The value of `key` when it is valid UTF-8.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Sets `key` to `value`, returning the previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Option<Vec<u8>> {
        self.0.insert(key.into(), value.into())
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Vec<u8>> {
        self.0.remove(key)
    }

    /// The pairs in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<Vec<u8>>> FromIterator<(K, V)> for Metadata {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Metadata(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// Why an `Upload-Metadata` header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// A pair has an empty key.
    #[error("empty key")]
    EmptyKey,
    /// A key holds a character outside visible ASCII.
    #[error("key {0:?} has characters outside visible ASCII")]
    InvalidKey(String),
    /// A pair has more than one space.
    #[error("pair for key {0:?} has more than key and value")]
    TooManyParts(String),
    /// A value is not valid base64.
    #[error("value of key {0:?} is not valid base64")]
    InvalidBase64(String),
    /// A key appears twice.
    #[error("duplicate key {0:?}")]
    DuplicateKey(String),
}

/// Parses an `Upload-Metadata` header value.
///
/// An empty (or all-space) header is empty metadata. Spaces around pairs are
/// tolerated, as clients emit them after commas.
pub fn parse(header: &str) -> Result<Metadata, MetadataError> {
    let mut out = BTreeMap::new();
    if header.trim().is_empty() {
        return Ok(Metadata(out));
    }
    for pair in header.split(',') {
        let pair = pair.trim_matches(' ');
        let mut parts = pair.split(' ');
        let key = parts.next().unwrap_or_default();
        let value = parts.next();
        if parts.next().is_some() {
            return Err(MetadataError::TooManyParts(key.to_owned()));
        }
        if key.is_empty() {
            return Err(MetadataError::EmptyKey);
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(MetadataError::InvalidKey(key.to_owned()));
        }
        let value = match value {
            None | Some("") => Vec::new(),
            Some(v) => LENIENT
                .decode(v)
                .map_err(|_| MetadataError::InvalidBase64(key.to_owned()))?,
        };
        if out.insert(key.to_owned(), value).is_some() {
            return Err(MetadataError::DuplicateKey(key.to_owned()));
        }
    }
    Ok(Metadata(out))
}

/// Serializes metadata into an `Upload-Metadata` header value.
///
/// Keys with empty values are written without a value, as the spec allows.
pub fn serialize(metadata: &Metadata) -> String {
    let mut out = String::new();
    for (key, value) in metadata.iter() {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(key);
        if !value.is_empty() {
            out.push(' ');
            base64::engine::general_purpose::STANDARD.encode_string(value, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_values_round_trip() {
        let md: Metadata = [("bin", vec![0u8, 255, 10, 13])].into_iter().collect();
        assert_eq!(parse(&serialize(&md)).unwrap(), md);
    }

    #[test]
    fn malformed_headers_are_refused() {
        assert_eq!(parse("a b c"), Err(MetadataError::TooManyParts("a".into())));
        assert_eq!(parse(" , a"), Err(MetadataError::EmptyKey));
        assert_eq!(
            parse("a !!!"),
            Err(MetadataError::InvalidBase64("a".into()))
        );
        assert_eq!(parse("a,a"), Err(MetadataError::DuplicateKey("a".into())));
        assert_eq!(parse("ä eA=="), Err(MetadataError::InvalidKey("ä".into())));
    }

    #[test]
    fn unpadded_values_and_spaces_after_commas_are_accepted() {
        let md = parse("a eA, b eHk=").unwrap();
        assert_eq!(md.get("a"), Some(&b"x"[..]));
        assert_eq!(md.get("b"), Some(&b"xy"[..]));
    }
}
