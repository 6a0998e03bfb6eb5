//! probe: checks run from inside a container by the runtime tests.
//! Static, std only, so it runs in a busybox rootfs. Prints results on
//! stdout, one per line; exits non-zero only on a usage error.

use std::ffi::CString;

extern "C" {
    fn syscall(n: i64, ...) -> i64;
    fn __errno_location() -> *mut i32;
    fn open(path: *const i8, flags: i32, ...) -> i32;
    fn fstat(fd: i32, buf: *mut [u64; 18]) -> i32;
    fn fork() -> i32;
}

const O_RDONLY: i32 = 0;
const O_WRONLY: i32 = 1;
const O_PATH: i32 = 0o10000000;

fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *__errno_location() }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("fds") => fds(),
        Some("syscall") => raw_syscall(&args[2..]),
        Some("open-write") => open_write(&args[2]),
        Some("grab-exe") => grab_exe(),
        Some("fork-bomb") => fork_bomb(&args[2]),
        _ => {
            eprintln!("usage: probe fds | syscall NR [ARGS] | open-write PATH | grab-exe | fork-bomb N");
            std::process::exit(2);
        }
    }
}

/// Every open descriptor and what it points to.
fn fds() {
    let mut entries: Vec<(i32, String)> = std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some((n, target.display().to_string()))
        })
        .collect();
    entries.sort();
    for (n, target) in entries {
        println!("{n} {target}");
    }
}

/// Runs syscall NR with integer arguments; prints "ok" or "errno N".
fn raw_syscall(args: &[String]) {
    let n: i64 = args[0].parse().expect("syscall number");
    let a: Vec<i64> = args[1..].iter().map(|s| s.parse().expect("integer argument")).collect();
    let get = |i: usize| a.get(i).copied().unwrap_or(0);
    // SAFETY: the tests only pass syscalls with integer arguments.
    let ret = unsafe { syscall(n, get(0), get(1), get(2), get(3)) };
    if ret < 0 {
        println!("errno {}", errno());
    } else {
        println!("ok");
    }
}

fn open_write(path: &str) {
    let c = CString::new(path).expect("path");
    // SAFETY: c is a valid C string.
    let fd = unsafe { open(c.as_ptr(), O_WRONLY) };
    if fd < 0 {
        println!("errno {}", errno());
    } else {
        println!("ok");
    }
}

/// CVE-2019-5736, the attacker's side, run as a startContainer hook (so
/// pid 1 is still the runtime binary): grab /proc/1/exe with O_PATH, leave
/// a child holding it, and once pid 1 has exec'd the user's program (the
/// runtime binary is no longer running) reopen the grabbed binary for
/// writing. The child prints "writable", "errno N" or "timeout".
fn grab_exe() {
    let link = CString::new("/proc/1/exe").expect("path");
    // SAFETY: link is a valid C string.
    let fd = unsafe { open(link.as_ptr(), O_PATH) };
    if fd < 0 {
        println!("errno {}", errno());
        return;
    }
    let grabbed = identity(fd);
    // SAFETY: fork in a single-threaded program.
    if unsafe { fork() } != 0 {
        return;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while identity_of("/proc/1/exe", O_PATH) == grabbed {
        if std::time::Instant::now() > deadline {
            println!("timeout");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let c = CString::new(format!("/proc/self/fd/{fd}")).expect("path");
    // SAFETY: c is a valid C string.
    let w = unsafe { open(c.as_ptr(), O_WRONLY) };
    if w >= 0 {
        println!("writable");
    } else {
        println!("errno {}", errno());
    }
}

/// Forks N children that each sleep a while; prints how many forks worked
/// and how many failed.
fn fork_bomb(n: &str) {
    let n: u32 = n.parse().expect("count");
    let (mut forked, mut failed) = (0, 0);
    for _ in 0..n {
        // SAFETY: fork in a single-threaded program; the child only sleeps and exits.
        match unsafe { fork() } {
            0 => {
                std::thread::sleep(std::time::Duration::from_secs(5));
                std::process::exit(0);
            }
            pid if pid > 0 => forked += 1,
            _ => failed += 1,
        }
    }
    println!("forked {forked} failed {failed}");
}

fn identity_of(path: &str, flags: i32) -> (u64, u64) {
    let c = CString::new(path).expect("path");
    // SAFETY: c is a valid C string.
    let fd = unsafe { open(c.as_ptr(), flags) };
    identity(fd)
}

fn identity(fd: i32) -> (u64, u64) {
    let mut buf = [0u64; 18];
    // SAFETY: buf is large enough for struct stat on x86_64 (144 bytes).
    unsafe { fstat(fd, &mut buf) };
    (buf[0], buf[1])
}
