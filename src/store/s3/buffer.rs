//! One part's bytes while they arrive: in memory within the store's
//! budget, else in a file in the spill folder.

use std::io::Write;

use super::budget::{Budget, Lent, Memory};
use crate::error::StoreError;
use aws_sdk_s3::primitives::{ByteStream, Length};
use bytes::{Bytes, BytesMut};

/// Spilled bytes go to disk in writes of this size. They are copied into a
/// batch of their own rather than held as they arrived: a chunk held would
/// keep the connection's whole read buffer alive.
const SPILL_WRITE: usize = 256 << 10;

pub(super) struct PartBuffer {
    held: Held,
    len: u64,
}

enum Held {
    Memory(Memory),
    Spilled {
        /// Away on the blocking pool, with the batch, while a write is
        /// under way.
        file: Option<(std::fs::File, BytesMut)>,
        path: tempfile::TempPath,
    },
}

/// A part's bytes as a request body, and what must live while it is sent.
pub(super) struct PartBody {
    pub(super) stream: ByteStream,
    pub(super) len: u64,
    _lent: Option<Lent>,
    _file: Option<tempfile::TempPath>,
}

impl PartBody {
    /// A body of `len` bytes from elsewhere (an object read back, nothing).
    pub(super) fn from_stream(stream: ByteStream, len: u64) -> Self {
        PartBody {
            stream,
            len,
            _lent: None,
            _file: None,
        }
    }
}

impl PartBuffer {
    /// A buffer for up to `capacity` bytes: memory when the budget has it
    /// (reserved whole, so a buffer never grows past what it was given),
    /// else a new file.
    pub(super) async fn new(capacity: u64, budget: &Budget) -> Result<Self, StoreError> {
        if let Some(memory) = budget.take(capacity) {
            return Ok(PartBuffer {
                held: Held::Memory(memory),
                len: 0,
            });
        }
        let dir = budget.spill_dir();
        let (file, path) = tokio::task::spawn_blocking(move || {
            tempfile::Builder::new()
                .prefix("tus-part-")
                .tempfile_in(dir)
                .map(tempfile::NamedTempFile::into_parts)
        })
        .await
        .map_err(|e| StoreError::Other(e.into()))??;
        Ok(PartBuffer {
            held: Held::Spilled {
                file: Some((file, BytesMut::with_capacity(SPILL_WRITE))),
                path,
            },
            len: 0,
        })
    }

    pub(super) fn len(&self) -> u64 {
        self.len
    }

    pub(super) fn is_spilled(&self) -> bool {
        matches!(self.held, Held::Spilled { .. })
    }

    pub(super) async fn push(&mut self, chunk: Bytes) -> Result<(), StoreError> {
        self.len += chunk.len() as u64;
        match &mut self.held {
            Held::Memory(memory) => memory.bytes.extend_from_slice(&chunk),
            Held::Spilled { file, .. } => {
                let mut rest = &chunk[..];
                while !rest.is_empty() {
                    let (_, batch) = file.as_mut().ok_or_else(lost)?;
                    let room = SPILL_WRITE - batch.len();
                    let (now, later) = rest.split_at(room.min(rest.len()));
                    batch.extend_from_slice(now);
                    rest = later;
                    if batch.len() == SPILL_WRITE {
                        write_out(file).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The bytes as a body that S3 requests can send again on a retry.
    pub(super) async fn into_body(self) -> Result<PartBody, StoreError> {
        let len = self.len;
        match self.held {
            Held::Memory(memory) => {
                let (bytes, lent) = memory.lend();
                Ok(PartBody {
                    stream: ByteStream::from(bytes),
                    len,
                    _lent: Some(lent),
                    _file: None,
                })
            }
            Held::Spilled { mut file, path } => {
                write_out(&mut file).await?;
                drop(file);
                let stream = ByteStream::read_from()
                    .path(&path)
                    .length(Length::Exact(len))
                    .build()
                    .await
                    .map_err(|e| StoreError::Other(e.into()))?;
                Ok(PartBody {
                    stream,
                    len,
                    _lent: None,
                    _file: Some(path),
                })
            }
        }
    }
}

/// Writes the batch to the file, on the blocking pool, and empties it.
async fn write_out(file: &mut Option<(std::fs::File, BytesMut)>) -> Result<(), StoreError> {
    let (mut taken, mut batch) = file.take().ok_or_else(lost)?;
    let (taken, batch) = tokio::task::spawn_blocking(move || {
        taken.write_all(&batch)?;
        batch.clear();
        Ok::<_, std::io::Error>((taken, batch))
    })
    .await
    .map_err(|e| StoreError::Other(e.into()))??;
    *file = Some((taken, batch));
    Ok(())
}

fn lost() -> StoreError {
    StoreError::Other("a spill file lost in a failed write".into())
}
