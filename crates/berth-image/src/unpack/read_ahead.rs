//! A reader run on a helper thread, a few chunks ahead of its consumer.
//!
//! Unpacking a layer is two kinds of work in a row: inflating (and, on a
//! pull, reading the network and hashing the compressed blob), then hashing
//! the tar (the DiffID) and making its files. Run on one thread, one big
//! layer keeps a single core busy while the other waits for it; split here,
//! the two halves overlap, and the last layer of a pull finishes about
//! twice as soon.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::thread::Scope;

/// Bytes read per chunk.
const CHUNK: usize = 256 * 1024;
/// Chunks the helper may be ahead (bounds the memory to about 1.5 MiB).
const DEPTH: usize = 4;

/// A full chunk: the buffer and how much of it holds data.
type Filled = io::Result<(Vec<u8>, usize)>;

/// The consuming end: reads what the helper thread read.
pub struct ReadAhead {
    filled: Receiver<Filled>,
    /// Buffers handed back for reuse, so none is allocated per chunk.
    spent: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    len: usize,
    pos: usize,
    done: bool,
}

impl ReadAhead {
    /// Starts reading `source` on a thread of `scope`. The thread stops at
    /// the source's end, on its first error (which the consumer then reads),
    /// or once the `ReadAhead` is dropped and its next chunk can't be sent.
    pub fn spawn<'scope, R>(scope: &'scope Scope<'scope, '_>, source: R) -> ReadAhead
    where
        R: Read + Send + 'scope,
    {
        let (fill, filled) = sync_channel(DEPTH);
        let (spent, reuse) = sync_channel(DEPTH + 2);
        scope.spawn(move || produce(source, &fill, &reuse));
        ReadAhead {
            filled,
            spent,
            current: Vec::new(),
            len: 0,
            pos: 0,
            done: false,
        }
    }

    /// Moves to the next chunk; false at the end of the source.
    fn next_chunk(&mut self) -> io::Result<bool> {
        let old = std::mem::take(&mut self.current);
        if old.capacity() > 0 {
            // Full or gone helper: the buffer is simply freed.
            let _ = self.spent.try_send(old);
        }
        match self.filled.recv() {
            Ok(Ok((buf, len))) => {
                self.current = buf;
                self.len = len;
                self.pos = 0;
                Ok(true)
            }
            Ok(Err(e)) => {
                self.done = true;
                Err(e)
            }
            // The helper hung up: the source ended.
            Err(_) => {
                self.done = true;
                Ok(false)
            }
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.pos == self.len {
            if self.done || !self.next_chunk()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.len - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The helper thread's loop.
fn produce(mut source: impl Read, fill: &SyncSender<Filled>, reuse: &Receiver<Vec<u8>>) {
    loop {
        let mut buf = match reuse.try_recv() {
            Ok(buf) => buf,
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => vec![0; CHUNK],
        };
        let sent = match source.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => fill.send(Ok((buf, n))),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = fill.send(Err(e));
                return;
            }
        };
        if sent.is_err() {
            return; // the consumer is gone
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that yields `data` in odd-sized reads, then fails if asked.
    struct Source {
        data: Vec<u8>,
        pos: usize,
        fail_at_end: bool,
    }

    impl Read for Source {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pos == self.data.len() && self.fail_at_end {
                return Err(io::Error::other("source failed"));
            }
            let n = buf.len().min(self.data.len() - self.pos).min(77_777);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn source(len: usize, fail_at_end: bool) -> Source {
        Source {
            data: (0..len).map(|i| (i * 31 % 251) as u8).collect(),
            pos: 0,
            fail_at_end,
        }
    }

    #[test]
    fn passes_every_byte_in_order() {
        let src = source(3 * CHUNK + 12_345, false);
        let want = src.data.clone();
        let got = std::thread::scope(|scope| {
            let mut out = Vec::new();
            ReadAhead::spawn(scope, src).read_to_end(&mut out).unwrap();
            out
        });
        assert_eq!(got, want);
    }

    #[test]
    fn passes_the_error_after_the_data() {
        let src = source(1000, true);
        std::thread::scope(|scope| {
            let mut reader = ReadAhead::spawn(scope, src);
            let mut out = vec![0; 1000];
            reader.read_exact(&mut out).unwrap();
            let err = reader.read(&mut [0; 10]).unwrap_err();
            assert_eq!(err.to_string(), "source failed");
        });
    }

    #[test]
    fn a_consumer_that_stops_early_ends_the_helper() {
        let src = source(64 * CHUNK, false);
        std::thread::scope(|scope| {
            let mut reader = ReadAhead::spawn(scope, src);
            reader.read_exact(&mut [0; 10]).unwrap();
            // Dropped here; the scope only ends if the helper stops.
        });
    }
}
