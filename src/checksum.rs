//! The checksum extension: `Upload-Checksum`, verified while the body streams.
//!
//! ```
//! use tower_tus::checksum::{Algorithm, Checksum};
//!
//! let expected = Checksum::parse("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=").unwrap();
//! assert_eq!(expected.algorithm(), Algorithm::Sha1);
//! let mut hasher = expected.algorithm().hasher();
//! hasher.update(b"hello world");
//! assert!(expected.matches(&hasher.finish()));
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::Digest;

use crate::error::TusError;

/// A checksum algorithm, named as in `Upload-Checksum` and `Tus-Checksum-Algorithm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-512.
    Sha512,
    /// MD5.
    Md5,
    /// CRC-32 (IEEE), big-endian.
    Crc32,
    /// CRC-32C (Castagnoli), big-endian.
    Crc32c,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::Sha1,
        Algorithm::Sha256,
        Algorithm::Sha512,
        Algorithm::Md5,
        Algorithm::Crc32,
        Algorithm::Crc32c,
    ];

    /// The algorithm's name in the protocol.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
            Algorithm::Md5 => "md5",
            Algorithm::Crc32 => "crc32",
            Algorithm::Crc32c => "crc32c",
        }
    }

    /// The algorithm called `name` (lowercase).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    /// A fresh hasher.
    pub fn hasher(self) -> Hasher {
        Hasher {
            state: match self {
                Algorithm::Sha1 => State::Sha1(sha1::Sha1::new()),
                Algorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
                Algorithm::Sha512 => State::Sha512(sha2::Sha512::new()),
                Algorithm::Md5 => State::Md5(md5::Md5::new()),
                Algorithm::Crc32 => State::Crc32(crc32fast::Hasher::new()),
                Algorithm::Crc32c => State::Crc32c(0),
            },
        }
    }

    /// `sha1,sha256,…`: the value of `Tus-Checksum-Algorithm`.
    pub fn header_value() -> String {
        Algorithm::ALL.map(Algorithm::name).join(",")
    }
}

/// A running digest.
#[derive(Clone, Debug)]
pub struct Hasher {
    state: State,
}

#[derive(Clone, Debug)]
enum State {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
    Md5(md5::Md5),
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
}

impl Hasher {
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => h.update(data),
            State::Sha512(h) => h.update(data),
            State::Md5(h) => h.update(data),
            State::Crc32(h) => h.update(data),
            State::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, data),
        }
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Vec<u8> {
        match self.state {
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha256(h) => h.finalize().to_vec(),
            State::Sha512(h) => h.finalize().to_vec(),
            State::Md5(h) => h.finalize().to_vec(),
            State::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            State::Crc32c(crc) => crc.to_be_bytes().to_vec(),
        }
    }
}

/// An expected checksum: `<algorithm> <base64 digest>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checksum {
    algorithm: Algorithm,
    digest: Vec<u8>,
}

impl Checksum {
    /// Parses an `Upload-Checksum` value.
    pub fn parse(value: &str) -> Result<Checksum, TusError> {
        let (name, digest) = value
            .trim()
            .split_once(' ')
            .ok_or(TusError::InvalidChecksum(
                "expected `<algorithm> <base64 digest>`",
            ))?;
        let algorithm =
            Algorithm::from_name(name).ok_or(TusError::InvalidChecksum("unsupported algorithm"))?;
        let digest = STANDARD
            .decode(digest.trim())
            .map_err(|_| TusError::InvalidChecksum("digest is not base64"))?;
        Ok(Checksum { algorithm, digest })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether `digest` is the expected one.
    pub fn matches(&self, digest: &[u8]) -> bool {
        self.digest == digest
    }
}

/// Hashers for one or every algorithm, fed as the body streams.
#[derive(Clone, Debug)]
pub struct MultiHasher {
    hashers: Vec<(Algorithm, Hasher)>,
}

impl MultiHasher {
    /// Hashes with `algorithms`.
    pub fn new(algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        MultiHasher {
            hashers: algorithms.into_iter().map(|a| (a, a.hasher())).collect(),
        }
    }

    /// Feeds bytes to every hasher.
    pub fn update(&mut self, data: &[u8]) {
        for (_, h) in &mut self.hashers {
            h.update(data);
        }
    }

    /// Whether `expected` matches what was hashed (false if its algorithm was not hashed).
    pub fn verify(self, expected: &Checksum) -> bool {
        self.hashers
            .into_iter()
            .find(|(a, _)| *a == expected.algorithm)
            .is_some_and(|(_, h)| expected.matches(&h.finish()))
    }
}

/// What a request asks to verify its body against.
///
/// ```
/// use tower_tus::checksum::{Checksum, Expected};
///
/// let sum = Checksum::parse("md5 XrY7u+Ae7tCTyyK7j1rNww==").unwrap();
/// let mut hasher = Expected::Header(sum.clone()).hasher();
/// hasher.update(b"hello world");
/// assert!(hasher.verify(&sum));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Expected {
    /// `Upload-Checksum` came with the headers.
    Header(Checksum),
    /// `Trailer: Upload-Checksum`: the checksum follows the body, with an
    /// algorithm not known until then, so every algorithm hashes.
    Trailer,
}

impl Expected {
    /// Hashers for what may be verified.
    pub fn hasher(&self) -> MultiHasher {
        match self {
            Expected::Header(c) => MultiHasher::new([c.algorithm()]),
            Expected::Trailer => MultiHasher::new(Algorithm::ALL),
        }
    }
}

/// Why a body could not be verified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The body did not arrive whole, so it cannot be verified.
    #[error("the body ended early")]
    Incomplete,
    /// The checksum was announced as a trailer that never came.
    #[error("the Upload-Checksum trailer did not arrive")]
    MissingTrailer,
    /// The trailer is not a valid `Upload-Checksum`.
    #[error("invalid Upload-Checksum trailer: {0}")]
    InvalidTrailer(&'static str),
    /// The digest differs.
    #[error("checksum mismatch")]
    Mismatch,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(a: Algorithm, data: &[u8]) -> String {
        let mut h = a.hasher();
        h.update(data);
        STANDARD.encode(h.finish())
    }

    #[test]
    fn known_digests() {
        let data = b"hello world";
        assert_eq!(digest(Algorithm::Md5, data), "XrY7u+Ae7tCTyyK7j1rNww==");
        assert_eq!(
            digest(Algorithm::Sha256, data),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
        // crc32("hello world") = 0x0d4a1185
        assert_eq!(
            digest(Algorithm::Crc32, data),
            STANDARD.encode([0x0d, 0x4a, 0x11, 0x85])
        );
        // crc32c("hello world") = 0xc99465aa
        assert_eq!(
            digest(Algorithm::Crc32c, data),
            STANDARD.encode([0xc9, 0x94, 0x65, 0xaa])
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "sha1",
            "sha3 AAAA",
            "SHA1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=",
            "sha1 !!!",
        ] {
            assert!(Checksum::parse(bad).is_err(), "{bad}");
        }
    }
}
