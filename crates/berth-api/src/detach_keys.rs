//! Detach keys: the key sequence that ends an attach to a TTY without
//! stopping the container (docker's `--detach-keys` flag and the
//! `detachKeys` query parameter of attach and exec).
//!
//! The format is docker's: comma-separated keys, each a single character or
//! `ctrl-<c>` where `<c>` is a letter or one of `@[\]^_`. The default is
//! `ctrl-p,ctrl-q`. Both the CLI (on its stdin) and the daemon (on the
//! attach stream, for clients that leave it to the daemon) watch for it.

/// Docker's default sequence.
pub const DEFAULT: &str = "ctrl-p,ctrl-q";

/// A `--detach-keys` value that is not in docker's format.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid detach keys ({given}) provided: unknown key {key:?}")]
pub struct InvalidDetachKeys {
    pub given: String,
    pub key: String,
}

/// The bytes of a key sequence; an empty spec means the default.
pub fn parse(spec: &str) -> Result<Vec<u8>, InvalidDetachKeys> {
    let spec = if spec.is_empty() { DEFAULT } else { spec };
    spec.split(',').map(|key| parse_key(spec, key)).collect()
}

fn parse_key(spec: &str, key: &str) -> Result<u8, InvalidDetachKeys> {
    let invalid = || InvalidDetachKeys {
        given: spec.to_string(),
        key: key.to_string(),
    };
    if key.len() == 1 {
        return Ok(key.as_bytes()[0]);
    }
    let lower = key.to_ascii_lowercase();
    let name = lower.strip_prefix("ctrl-").ok_or_else(invalid)?;
    match name.as_bytes() {
        [c @ b'a'..=b'z'] => Ok(c - b'a' + 1),
        [b'@'] => Ok(0),
        [c @ (b'[' | b'\\' | b']' | b'^' | b'_')] => Ok(c - b'[' + 27),
        _ => Err(invalid()),
    }
}

/// Watches an input stream for the sequence. Bytes that might start it
/// are held back until it is clear whether they do; if they don't, they
/// are passed on after all.
#[derive(Debug, Clone)]
pub struct EscapeDetector {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeDetector {
    /// A detector for `keys` (from [`parse`]); empty keys never match.
    pub fn new(keys: Vec<u8>) -> EscapeDetector {
        EscapeDetector { keys, matched: 0 }
    }

    /// Appends to `out` the bytes of `input` to forward now. Returns true
    /// when the sequence is complete: the caller detaches, and whatever
    /// followed it in `input` is dropped.
    pub fn scan(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return false;
        }
        for &b in input {
            if b != self.keys[self.matched] {
                // Not the sequence after all: release what was held back,
                // then see whether this byte starts it again.
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b != self.keys[0] {
                    out.push(b);
                    continue;
                }
            }
            self.matched += 1;
            if self.matched == self.keys.len() {
                self.matched = 0;
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_formats() {
        assert_eq!(parse("").unwrap(), vec![16, 17]);
        assert_eq!(parse("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse("CTRL-A,x").unwrap(), vec![1, b'x']);
        assert_eq!(
            parse("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_").unwrap(),
            vec![0, 27, 28, 29, 30, 31]
        );
    }

    #[test]
    fn refuses_unknown_keys() {
        let e = parse("ctrl-p,alt-q").unwrap_err();
        assert_eq!(e.key, "alt-q");
        assert!(e.to_string().contains("invalid detach keys (ctrl-p,alt-q)"));
        assert!(parse("ctrl-1").is_err());
        assert!(parse("ctrl-p,").is_err());
    }

    fn feed(d: &mut EscapeDetector, chunks: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        for c in chunks {
            if d.scan(c, &mut out) {
                return (out, true);
            }
        }
        (out, false)
    }

    #[test]
    fn detects_the_sequence_across_reads() {
        let mut d = EscapeDetector::new(vec![16, 17]);
        assert_eq!(
            feed(&mut d, &[b"ls\r", &[16], &[17], b"more"]),
            (b"ls\r".to_vec(), true)
        );
    }

    #[test]
    fn releases_a_false_start() {
        let mut d = EscapeDetector::new(vec![16, 17]);
        assert_eq!(
            feed(&mut d, &[&[16], b"a", &[16, 16, 17]]),
            (vec![16, b'a', 16], true)
        );
        let mut d = EscapeDetector::new(vec![16, 17]);
        assert_eq!(feed(&mut d, &[&[16, b'x']]), (vec![16, b'x'], false));
    }

    #[test]
    fn empty_keys_pass_everything() {
        let mut d = EscapeDetector::new(Vec::new());
        assert_eq!(feed(&mut d, &[&[16, 17]]), (vec![16, 17], false));
    }
}
