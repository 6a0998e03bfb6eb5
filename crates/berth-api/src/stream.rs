//! Response bodies read as they arrive: raw chunks (logs, `save`) and
//! newline-delimited JSON messages (pull/push/load progress, events,
//! stats).

use std::marker::PhantomData;

use bytes::{Buf as _, Bytes, BytesMut};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// A body read chunk by chunk.
pub struct RawStream {
    body: Incoming,
}

impl RawStream {
    pub fn new(body: Incoming) -> RawStream {
        RawStream { body }
    }

    /// The next chunk of data, or `None` at the end.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes>> {
        loop {
            match self.body.frame().await? {
                Ok(frame) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => return Some(Ok(data)),
                    // Trailers carry nothing we use.
                    Err(_) => continue,
                },
                Err(e) => return Some(Err(Error::Http(e))),
            }
        }
    }
}

/// A body of JSON messages, one per line. Docker ends each message with
/// `\n` or `\r\n`; blank lines are skipped.
pub struct JsonStream<T> {
    raw: RawStream,
    buf: BytesMut,
    done: bool,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> JsonStream<T> {
    pub(crate) fn new(body: Incoming) -> JsonStream<T> {
        JsonStream {
            raw: RawStream::new(body),
            buf: BytesMut::new(),
            done: false,
            _t: PhantomData,
        }
    }

    /// The next message, or `None` at the end of the body.
    pub async fn next(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(line) = take_line(&mut self.buf, self.done) {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some(serde_json::from_slice(&line).map_err(Error::Json));
            }
            if self.done {
                return None;
            }
            match self.raw.next_chunk().await {
                Some(Ok(chunk)) => self.buf.extend_from_slice(&chunk),
                Some(Err(e)) => return Some(Err(e)),
                None => self.done = true,
            }
        }
    }
}

/// Splits off the first complete line; at the end of input, whatever is
/// left counts as a line.
fn take_line(buf: &mut BytesMut, at_end: bool) -> Option<Bytes> {
    if let Some(nl) = buf.iter().position(|&b| b == b'\n') {
        let line = buf.split_to(nl).freeze();
        buf.advance(1);
        return Some(line);
    }
    if at_end && !buf.is_empty() {
        return Some(buf.split().freeze());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks() {
        let mut buf = BytesMut::from(&b"{\"a\":1}\r\n{\"b\""[..]);
        assert_eq!(&take_line(&mut buf, false).unwrap()[..], b"{\"a\":1}\r");
        assert!(take_line(&mut buf, false).is_none());
        buf.extend_from_slice(b":2}");
        assert_eq!(&take_line(&mut buf, true).unwrap()[..], b"{\"b\":2}");
        assert!(take_line(&mut buf, true).is_none());
    }
}
