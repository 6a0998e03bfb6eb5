//! Gzip decompression with Intel's ISA-L (igzip).
//!
//! Inflating is the largest cost of a pull (about 60 % of its CPU time with
//! zlib-rs). igzip's hand-tuned assembly inflates 10-25 % faster on the
//! layers of the pull benchmark, so layers use it; flate2 stays for the
//! small, cold paths (import, save). The library is built from source and
//! linked statically by `isal-sys`: a berthd binary needs no libisal at run
//! time.
//!
//! `isal-rs`'s own reader is not used: it loops forever on a truncated
//! stream. This one stops with an error on any stream that ends early or
//! stops making progress.

use std::io::{self, Read};

use isal_sys::igzip_lib as isal;

/// Compressed bytes read from the source at a time.
const INPUT_CHUNK: usize = 256 * 1024;

/// A `Read` that inflates a gzip stream of one or more members (as
/// `flate2::read::MultiGzDecoder` does), checking each member's CRC32 and
/// length.
pub struct GzipDecoder<R> {
    source: R,
    input: Vec<u8>,
    /// Boxed: the state holds 64 KiB of buffers, and igzip keeps pointers
    /// into `input`, which must not move while they are live.
    state: Box<isal::inflate_state>,
    /// Whether the current member has produced its last byte.
    member_done: bool,
    source_done: bool,
}

// SAFETY: the raw pointers in `state` point into `input`, a heap buffer the
// decoder owns (or into the caller's buffer only during `read`), so they
// stay valid wherever the decoder moves; nothing is shared between threads.
unsafe impl<R: Send> Send for GzipDecoder<R> {}

impl<R: Read> GzipDecoder<R> {
    pub fn new(source: R) -> Self {
        let mut decoder = GzipDecoder {
            source,
            input: vec![0; INPUT_CHUNK],
            state: new_state(),
            member_done: false,
            source_done: false,
        };
        decoder.state.next_in = decoder.input.as_mut_ptr();
        decoder.state.avail_in = 0;
        decoder
    }

    /// Refills the input buffer once igzip has consumed all of it. Returns
    /// false at the end of the source.
    fn refill(&mut self) -> io::Result<bool> {
        if self.source_done {
            return Ok(false);
        }
        let n = loop {
            match self.source.read(&mut self.input) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if n == 0 {
            self.source_done = true;
            return Ok(false);
        }
        self.state.next_in = self.input.as_mut_ptr();
        self.state.avail_in = n as u32;
        Ok(true)
    }

    /// Starts the next gzip member if there is more input after the one
    /// that just ended; false at the end of the stream.
    fn next_member(&mut self) -> io::Result<bool> {
        if self.state.avail_in == 0 && !self.refill()? {
            return Ok(false);
        }
        let (next_in, avail_in) = (self.state.next_in, self.state.avail_in);
        reset_state(&mut self.state);
        self.state.next_in = next_in;
        self.state.avail_in = avail_in;
        self.member_done = false;
        Ok(true)
    }
}

impl<R: Read> Read for GzipDecoder<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.member_done && !self.next_member()? {
                return Ok(0);
            }
            if self.state.avail_in == 0 && !self.refill()? {
                return Err(truncated());
            }
            let avail_in = self.state.avail_in;
            let produced = inflate_into(&mut self.state, out)?;
            self.member_done = self.state.block_state == isal::isal_block_state_ISAL_BLOCK_FINISH;
            if produced > 0 {
                return Ok(produced);
            }
            // Nothing out and nothing taken in, with input left: igzip is
            // stuck on data it can't decode (it does not always say so).
            if !self.member_done && self.state.avail_in == avail_in {
                return Err(corrupt("the stream stopped making progress"));
            }
        }
    }
}

/// A fresh inflate state for gzip members: header parsed, CRC and length
/// checked.
fn new_state() -> Box<isal::inflate_state> {
    let mut state = Box::<isal::inflate_state>::new_uninit();
    // SAFETY: isal_inflate_init initialises every field that isal_inflate
    // reads (it is ISA-L's documented constructor for this plain C struct,
    // which has no invalid bit patterns), so the box is initialised after it.
    let mut state = unsafe {
        isal::isal_inflate_init(state.as_mut_ptr());
        state.assume_init()
    };
    state.crc_flag = isal::ISAL_GZIP;
    state
}

/// Readies `state` for another gzip member.
fn reset_state(state: &mut isal::inflate_state) {
    // SAFETY: `state` is a valid, initialised inflate_state (made by
    // new_state); reset only rewrites its fields.
    unsafe { isal::isal_inflate_reset(state) };
    state.crc_flag = isal::ISAL_GZIP;
}

/// Inflates from the state's input into `out`; returns the bytes written.
fn inflate_into(state: &mut isal::inflate_state, out: &mut [u8]) -> io::Result<usize> {
    let len = out.len().min(u32::MAX as usize);
    state.next_out = out.as_mut_ptr();
    state.avail_out = len as u32;
    // SAFETY: next_out/avail_out describe `out`, which is live and writable
    // for the whole call; next_in/avail_in describe the decoder's input
    // buffer (set by refill, advanced by igzip itself), also live. The
    // pointers are not used after `out`'s borrow ends: the next call sets
    // next_out again.
    let ret = unsafe { isal::isal_inflate(state) };
    state.next_out = std::ptr::null_mut();
    let written = len - state.avail_out as usize;
    state.avail_out = 0;
    if ret < 0 {
        return Err(corrupt(error_name(ret)));
    }
    Ok(written)
}

fn error_name(code: i32) -> &'static str {
    match code {
        isal::ISAL_INVALID_BLOCK => "invalid deflate block",
        isal::ISAL_INVALID_SYMBOL => "invalid deflate symbol",
        isal::ISAL_INVALID_LOOKBACK => "invalid back-reference distance",
        isal::ISAL_INVALID_WRAPPER => "invalid gzip header",
        isal::ISAL_UNSUPPORTED_METHOD => "unsupported gzip compression method",
        isal::ISAL_INCORRECT_CHECKSUM => "gzip checksum mismatch",
        _ => "invalid gzip data",
    }
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("corrupt gzip stream: {what}"),
    )
}

fn truncated() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "gzip stream ends early")
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn sample() -> Vec<u8> {
        (0..3_000_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    fn inflate(gz: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        GzipDecoder::new(gz).read_to_end(&mut out)?;
        Ok(out)
    }

    /// A source that hands out one byte per read: every boundary case of
    /// refilling is hit.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn inflates_what_flate2_deflated() {
        let data = sample();
        assert_eq!(inflate(&gzip(&data)).unwrap(), data);
    }

    #[test]
    fn inflates_from_a_source_that_trickles() {
        let data = b"hello layer ".repeat(5000);
        let gz = gzip(&data);
        let mut out = Vec::new();
        GzipDecoder::new(Trickle(&gz))
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn reads_every_member_of_a_multi_member_stream() {
        let mut gz = gzip(b"first ");
        gz.extend(gzip(b"second"));
        assert_eq!(inflate(&gz).unwrap(), b"first second");
    }

    #[test]
    fn an_empty_member_is_empty_but_no_member_is_an_error() {
        assert_eq!(inflate(&gzip(b"")).unwrap(), b"");
        assert_eq!(
            inflate(b"").unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn a_truncated_stream_is_an_error_not_a_hang() {
        let gz = gzip(&sample());
        for cut in [1, 10, gz.len() / 2, gz.len() - 4, gz.len() - 1] {
            let err = inflate(&gz[..cut]).unwrap_err();
            assert!(
                matches!(
                    err.kind(),
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidData
                ),
                "cut at {cut}: {err}"
            );
        }
    }

    #[test]
    fn corruption_is_an_error() {
        let mut gz = gzip(&sample());
        let crc_at = gz.len() - 8;
        gz[crc_at] ^= 0xff;
        let err = inflate(&gz).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");

        let err = inflate(b"this is not gzip at all, not even close").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    }

    #[test]
    fn garbage_in_the_middle_is_an_error() {
        let mut gz = gzip(&sample());
        let mid = gz.len() / 2;
        for b in &mut gz[mid..mid + 64] {
            *b = 0xa5;
        }
        assert!(inflate(&gz).is_err());
    }
}
