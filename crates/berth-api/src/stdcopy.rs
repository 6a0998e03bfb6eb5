//! Docker's multiplexed stream framing ("stdcopy"), used for logs and
//! attach when the container has no TTY: each frame is an 8-byte header
//! `[stream, 0, 0, 0, size (u32 big-endian)]` and `size` bytes of payload.
//! Stream 0 is stdin, 1 stdout, 2 stderr (3 is a daemon-side system error
//! in newer APIs).
//!
//! This is a push parser: feed it bytes as they arrive from any source (a
//! response body or a hijacked socket) and take out whole frames.

use bytes::{Buf as _, Bytes, BytesMut};

const HEADER_LEN: usize = 8;

/// Which stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Stdin,
    Stdout,
    Stderr,
    /// A daemon error sent in-band (API ≥ 1.42).
    Systemerr,
}

/// A frame header named a stream that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid stream id {0} in multiplexed output")]
pub struct InvalidStream(pub u8);

/// Accumulates bytes and yields complete frames.
#[derive(Debug, Default)]
pub struct Demuxer {
    buf: BytesMut,
}

impl Demuxer {
    pub fn new() -> Demuxer {
        Demuxer::default()
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, if one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<(StreamKind, Bytes)>, InvalidStream> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let kind = match self.buf[0] {
            0 => StreamKind::Stdin,
            1 => StreamKind::Stdout,
            2 => StreamKind::Stderr,
            3 => StreamKind::Systemerr,
            other => return Err(InvalidStream(other)),
        };
        let size = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]);
        let size = size as usize;
        if self.buf.len() < HEADER_LEN + size {
            return Ok(None);
        }
        self.buf.advance(HEADER_LEN);
        Ok(Some((kind, self.buf.split_to(size).freeze())))
    }

    /// Bytes of an incomplete frame left over.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Encodes one frame (for tests and fakes).
pub fn encode_frame(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![stream, 0, 0, 0];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_anywhere() {
        let mut all = encode_frame(1, b"out\n");
        all.extend(encode_frame(2, b"err\n"));
        all.extend(encode_frame(1, b""));
        for split in 0..all.len() {
            let mut d = Demuxer::new();
            let mut got = Vec::new();
            for part in [&all[..split], &all[split..]] {
                d.push(part);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(
                got,
                vec![
                    (StreamKind::Stdout, Bytes::from_static(b"out\n")),
                    (StreamKind::Stderr, Bytes::from_static(b"err\n")),
                    (StreamKind::Stdout, Bytes::new()),
                ]
            );
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn bad_stream_id() {
        let mut d = Demuxer::new();
        d.push(&encode_frame(9, b"x"));
        assert_eq!(d.next_frame(), Err(InvalidStream(9)));
    }
}
