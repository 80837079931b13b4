//! The protobuf wire format: varints, fixed-width numbers, length-delimited
//! fields. <https://protobuf.dev/programming-guides/encoding/>

use super::ProtobufError;

/// A field's wire type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WireType {
    /// 0: int32, int64, bool, enum.
    Varint,
    /// 1: fixed64, double.
    Fixed64,
    /// 2: string, bytes, messages, packed repeated numbers.
    Len,
    /// 5: fixed32, float.
    Fixed32,
}

/// Reads fields off a message's bytes.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// How far the reader is.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(super) fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value = 0u64;
        for i in 0..10 {
            let byte = *self.buf.get(self.pos).ok_or(ProtobufError::Truncated)?;
            self.pos += 1;
            // The tenth byte may only carry the top bit of a u64.
            if i == 9 && byte > 1 {
                return Err(ProtobufError::VarintOverflow);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::VarintOverflow)
    }

    /// The next key: (field number, wire type).
    pub(super) fn key(&mut self) -> Result<(u32, WireType), ProtobufError> {
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3).map_err(|_| ProtobufError::BadKey(key))?;
        if tag == 0 {
            return Err(ProtobufError::BadKey(key));
        }
        let wire = match key & 7 {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::Len,
            5 => WireType::Fixed32,
            // 3 and 4 are proto2 groups, which Kubernetes never uses.
            other => return Err(ProtobufError::WireType(other as u8)),
        };
        Ok((tag, wire))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        let end = self.pos.checked_add(n).ok_or(ProtobufError::Truncated)?;
        let out = self
            .buf
            .get(self.pos..end)
            .ok_or(ProtobufError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    pub(super) fn bytes(&mut self) -> Result<&'a [u8], ProtobufError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| ProtobufError::Truncated)?;
        self.take(len)
    }

    pub(super) fn fixed64(&mut self) -> Result<u64, ProtobufError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Skips a value of an unknown field.
    pub(super) fn skip(&mut self, wire: WireType) -> Result<(), ProtobufError> {
        match wire {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.take(8).map(drop),
            WireType::Len => self.bytes().map(drop),
            WireType::Fixed32 => self.take(4).map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_decode_and_overflow_is_refused() {
        assert_eq!(Reader::new(&[0x96, 0x01]).varint().ok(), Some(150));
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Reader::new(&max).varint().ok(), Some(u64::MAX));
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(matches!(
            Reader::new(&over).varint(),
            Err(ProtobufError::VarintOverflow)
        ));
        assert!(matches!(
            Reader::new(&[0x80]).varint(),
            Err(ProtobufError::Truncated)
        ));
    }

    #[test]
    fn lengths_past_the_end_are_truncation() {
        let mut r = Reader::new(&[0x0a, 0x05, b'a']);
        assert_eq!(r.key().ok(), Some((1, WireType::Len)));
        assert!(matches!(r.bytes(), Err(ProtobufError::Truncated)));
        let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert!(matches!(
            Reader::new(&huge).bytes(),
            Err(ProtobufError::Truncated)
        ));
    }

    #[test]
    fn groups_and_field_zero_are_refused() {
        assert!(matches!(
            Reader::new(&[0x0b]).key(),
            Err(ProtobufError::WireType(3))
        ));
        assert!(matches!(
            Reader::new(&[0x02]).key(),
            Err(ProtobufError::BadKey(2))
        ));
    }
}
