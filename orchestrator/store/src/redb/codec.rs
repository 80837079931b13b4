//! The on-disk layout: table definitions and the record format.
//!
//! `kv` maps each key to a record: a 16-byte header (`create_revision`,
//! `mod_revision`, little-endian u64s) followed by the value bytes. `meta`
//! holds the global revision counter, written in the same transaction as the
//! records it numbers, and the layout version.

use ::redb::TableDefinition;
use bytes::Bytes;

use crate::{KeyValue, Revision, StoreError};

/// Key → header + value.
pub(crate) const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
/// Store metadata.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// `meta` entry: the revision of the last committed write.
pub(crate) const REVISION_KEY: &str = "revision";
/// `meta` entry: the record layout version.
pub(crate) const FORMAT_KEY: &str = "format";
/// The layout this code reads and writes.
pub(crate) const FORMAT: u64 = 1;

const HEADER: usize = 16;

/// The largest value redb stores (3 GiB), less the header.
pub(crate) const MAX_VALUE: usize = 3 * 1024 * 1024 * 1024 - HEADER;

/// Encodes a record.
pub(crate) fn encode(create_revision: Revision, mod_revision: Revision, value: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(HEADER + value.len());
    record.extend_from_slice(&create_revision.to_le_bytes());
    record.extend_from_slice(&mod_revision.to_le_bytes());
    record.extend_from_slice(value);
    record
}

/// Decodes the record stored under `key`.
pub(crate) fn decode(key: &str, record: &[u8]) -> Result<KeyValue, StoreError> {
    let corrupt = || StoreError::Corrupt {
        key: key.to_owned(),
        reason: format!(
            "record of {} bytes is shorter than its header",
            record.len()
        ),
    };
    let (create, rest) = record.split_first_chunk::<8>().ok_or_else(corrupt)?;
    let (modified, value) = rest.split_first_chunk::<8>().ok_or_else(corrupt)?;
    Ok(KeyValue {
        key: key.to_owned(),
        value: Bytes::copy_from_slice(value),
        create_revision: u64::from_le_bytes(*create),
        mod_revision: u64::from_le_bytes(*modified),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let kv = decode("/k", &encode(3, 7, b"hello")).expect("decodes");
        assert_eq!(
            kv,
            KeyValue {
                key: "/k".into(),
                value: Bytes::from_static(b"hello"),
                create_revision: 3,
                mod_revision: 7
            }
        );
        assert_eq!(
            decode("/e", &encode(1, 1, b""))
                .map(|kv| kv.value.len())
                .ok(),
            Some(0)
        );
    }

    #[test]
    fn short_record_is_an_error() {
        assert!(matches!(
            decode("/k", &[1, 2, 3]),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
