//! Random identifiers (container and exec ids: 64 hex digits, as Docker's).

use std::io::Read;

/// `n` random bytes from the kernel.
fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut buf);
    }
    buf
}

/// `len` random hex digits.
pub fn random_hex(len: usize) -> String {
    let bytes = random_bytes(len.div_ceil(2));
    let mut s: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    s.truncate(len);
    s
}

/// A new 64-hex id whose first 12 digits are not all numeric (Docker
/// avoids ids that look like numbers, which some tools would misparse).
pub fn new_id() -> String {
    loop {
        let id = random_hex(64);
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return id;
        }
    }
}

/// A random u64.
pub fn random_u64() -> u64 {
    let b = random_bytes(8);
    u64::from_le_bytes(b.try_into().unwrap_or([0; 8]))
}
