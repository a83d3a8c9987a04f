//! The byte encoding of operator checkpoint state (this crate's operators and the SQL ones):
//! little-endian fixed-width integers and length-prefixed byte strings, written by [`Encoder`]
//! and read back by [`Decoder`].
//!
//! Each operator documents its own layout in these terms; a decoder that runs out of bytes, or
//! finds a value it cannot accept, fails with [`OperatorError::State`].

use crate::OperatorError;

/// State that cannot be read back.
pub fn malformed(what: impl Into<String>) -> OperatorError {
    OperatorError::State(what.into())
}

/// Writes the encoding.
#[derive(Debug, Default)]
pub struct Encoder {
    bytes: Vec<u8>,
}

impl Encoder {
    /// An empty encoding.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a byte.
    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.bytes.push(value);
        self
    }

    /// Appends a `u32`.
    pub fn u32(&mut self, value: u32) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// Appends a `u64`.
    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// Appends an `i64`.
    pub fn i64(&mut self, value: i64) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// Appends an `f64`, exactly (its bits).
    pub fn f64(&mut self, value: f64) -> &mut Self {
        self.u64(value.to_bits())
    }

    /// Appends a length-prefixed byte string.
    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.u64(value.len() as u64);
        self.bytes.extend_from_slice(value);
        self
    }

    /// Appends a length-prefixed UTF-8 string.
    pub fn str(&mut self, value: &str) -> &mut Self {
        self.bytes(value.as_bytes())
    }

    /// The encoding so far (the encoder is left empty).
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

/// Reads what [`Encoder`] wrote.
#[derive(Debug)]
pub struct Decoder<'a> {
    bytes: &'a [u8],
}

impl<'a> Decoder<'a> {
    /// A decoder over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], OperatorError> {
        if self.bytes.len() < n {
            return Err(malformed("truncated"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], OperatorError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads a byte.
    pub fn u8(&mut self) -> Result<u8, OperatorError> {
        Ok(self.array::<1>()?[0])
    }

    /// Reads a `u32`.
    pub fn u32(&mut self) -> Result<u32, OperatorError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Reads a `u64`.
    pub fn u64(&mut self) -> Result<u64, OperatorError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads an `i64`.
    pub fn i64(&mut self) -> Result<i64, OperatorError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// Reads an `f64`.
    pub fn f64(&mut self) -> Result<f64, OperatorError> {
        Ok(f64::from_bits(self.u64()?))
    }

    /// Reads a length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8], OperatorError> {
        let len = usize::try_from(self.u64()?).map_err(|_| malformed("length"))?;
        self.take(len)
    }

    /// Reads a length-prefixed UTF-8 string.
    pub fn str(&mut self) -> Result<&'a str, OperatorError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| malformed("text that is not UTF-8"))
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Fails unless every byte was read: an item of another layout is not silently accepted.
    pub fn end(&self) -> Result<(), OperatorError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(malformed(format!(
                "{} unexpected trailing bytes",
                self.bytes.len()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_and_rejects_truncation() {
        let bytes = Encoder::new()
            .u8(7)
            .u64(u64::MAX)
            .i64(-3)
            .str("héllo")
            .finish();
        let mut decoder = Decoder::new(&bytes);
        assert_eq!(decoder.u8().unwrap(), 7);
        assert_eq!(decoder.u64().unwrap(), u64::MAX);
        assert_eq!(decoder.i64().unwrap(), -3);
        assert_eq!(decoder.str().unwrap(), "héllo");
        decoder.end().unwrap();
        let mut short = Decoder::new(&bytes[..bytes.len() - 1]);
        short.u8().unwrap();
        short.u64().unwrap();
        short.i64().unwrap();
        let err = short.str().unwrap_err();
        assert_eq!(err.to_string(), "malformed checkpoint state: truncated");
        assert!(Decoder::new(&bytes).end().is_err());
    }
}
