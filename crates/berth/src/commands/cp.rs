//! `berth cp`: files between a container and here, either way, with
//! docker's rules for what the copy is called: into an existing
//! directory it keeps its name, otherwise it takes the destination's
//! name; `SRC/.` copies a directory's contents; `-` is a tar on stdin or
//! stdout.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use berth_api::types::PathStat;
use berth_api::{Method, Query, RawStream, RequestBody};
use bytes::Bytes;
use clap::Args;
use tokio::io::AsyncWriteExt as _;

use super::cp_archive;
use crate::context::{seg, Ctx};
use crate::output::units;
use crate::stdio::tty;

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy. Progress output is
    /// automatically suppressed if no terminal is attached
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH or SRC_PATH|-
    #[arg(value_name = "SRC")]
    pub src: String,
    /// DEST_PATH|- or CONTAINER:DEST_PATH
    #[arg(value_name = "DEST")]
    pub dest: String,
}

/// Where the copy goes (or comes from): a directory and the name the
/// copied file or tree takes in it (`None`: a directory's contents go
/// straight in).
struct Placement {
    dir: PathBuf,
    base: Option<OsString>,
}

/// What docker's `CopyInfo` knows of a source or destination.
struct Info {
    exists: bool,
    is_dir: bool,
}

pub async fn run(ctx: &Ctx, args: CpArgs) -> anyhow::Result<i32> {
    match (split(&args.src), split(&args.dest)) {
        ((Some(_), _), (Some(_), _)) => bail!("copying between containers is not supported"),
        ((None, _), (None, _)) => bail!("must specify at least one container source"),
        ((Some(c), path), (None, dest)) => {
            from_container(ctx, &args, c, path, &resolve_local(dest)).await
        }
        ((None, src), (Some(c), path)) => {
            to_container(ctx, &args, &resolve_local(src), c, path).await
        }
    }
}

/// docker's `resolveLocalPath`: absolute, keeping a trailing `/` or `/.`
/// (they change what is copied); `-` stays.
fn resolve_local(path: &str) -> String {
    if path == "-" {
        return path.to_string();
    }
    let abs = std::path::absolute(path)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.to_string());
    let abs = abs.trim_end_matches('/');
    if contents_of(path) {
        format!("{}/.", abs.trim_end_matches("/."))
    } else if path.ends_with('/') {
        format!("{abs}/")
    } else {
        abs.to_string()
    }
}

/// docker's `splitCpArg`: `CONTAINER:PATH`, unless the argument is an
/// absolute or `./`-relative local path.
fn split(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, path)) if !c.starts_with('.') && !c.is_empty() => (Some(c), path),
        _ => (None, arg),
    }
}

/// Whether the path names a directory's contents (`dir/.`).
fn contents_of(path: &str) -> bool {
    path == "." || path.ends_with("/.")
}

/// docker's `assertsDirectory`: a trailing separator or `/.`.
fn asserts_dir(path: &str) -> bool {
    path.ends_with('/') || contents_of(path)
}

/// docker's `PrepareArchiveCopy`: the destination directory and the name
/// the source takes there.
fn place(
    src_name: &OsStr,
    src: &Info,
    whole: bool,
    dst: &str,
    info: &Info,
) -> anyhow::Result<Placement> {
    let keep = whole.then(|| src_name.to_os_string());
    let (parent, name) = split_dir_entry(dst);
    match (info.exists, info.is_dir, src.is_dir) {
        (true, true, _) => Ok(Placement {
            dir: PathBuf::from(dst),
            base: keep,
        }),
        (true, false, true) => bail!("cannot copy directory"),
        (false, _, false) if asserts_dir(dst) => bail!("no such directory"),
        // A file over a file, or anything to a new name: renamed.
        _ => Ok(Placement {
            dir: parent,
            base: Some(name),
        }),
    }
}

/// The parent directory and final name of `path` (`/` for a top entry).
fn split_dir_entry(path: &str) -> (PathBuf, OsString) {
    let trimmed = path.trim_end_matches('/');
    let p = Path::new(if trimmed.is_empty() { "/" } else { trimmed });
    let parent = match p.parent() {
        Some(d) if d.as_os_str().is_empty() => PathBuf::from("."),
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("/"),
    };
    let name = p.file_name().map(OsStr::to_os_string).unwrap_or_default();
    (parent, name)
}

// ------------------------------------------------------- from a container

async fn from_container(
    ctx: &Ctx,
    args: &CpArgs,
    container: &str,
    src: &str,
    dest: &str,
) -> anyhow::Result<i32> {
    let path = format!("/containers/{}/archive", seg(container));
    let q = Query::new().set("path", src);
    let resp = ctx
        .client
        .send(Method::GET, &path, &q, &[], RequestBody::empty())
        .await?;
    let stat = resp
        .headers()
        .get(PathStat::HEADER)
        .and_then(|v| PathStat::decode(v.as_bytes()))
        .unwrap_or_default();
    let body = RawStream::new(resp.into_body());
    if dest == "-" {
        return to_stdout(body).await;
    }
    let dst_info = local_destination(dest)?;
    let src_info = Info {
        exists: true,
        is_dir: stat.is_dir(),
    };
    let name = OsString::from(&stat.name);
    let placement = place(&name, &src_info, !contents_of(src), dest, &dst_info)?;
    let copied = unpack_stream(body, placement).await?;
    report(args, copied, &args.dest);
    Ok(0)
}

/// docker's `ValidateOutputPath` and `CopyInfoDestinationPath`: the
/// parent must exist; the destination itself may not.
fn local_destination(dest: &str) -> anyhow::Result<Info> {
    let (parent, _) = split_dir_entry(dest);
    if !parent.exists() {
        bail!(
            "invalid output path: directory {:?} does not exist",
            parent.display().to_string()
        );
    }
    match std::fs::metadata(dest) {
        Ok(m) => Ok(Info {
            exists: true,
            is_dir: m.is_dir(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Info {
            exists: false,
            is_dir: false,
        }),
        Err(e) => Err(e).with_context(|| format!("stat {dest}")),
    }
}

/// `cp CONTAINER:SRC -`: the archive as the daemon sent it.
async fn to_stdout(mut body: RawStream) -> anyhow::Result<i32> {
    let mut out = tokio::io::stdout();
    while let Some(chunk) = body.next_chunk().await {
        out.write_all(&chunk.context("reading the archive")?)
            .await
            .context("writing the archive")?;
    }
    out.flush().await?;
    Ok(0)
}

/// Feeds the archive to an unpacker on a blocking thread; returns the
/// bytes received.
async fn unpack_stream(mut body: RawStream, placement: Placement) -> anyhow::Result<u64> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let unpacker = tokio::task::spawn_blocking(move || {
        let reader = ChannelReader {
            rx,
            buf: Bytes::new(),
        };
        cp_archive::unpack(reader, &placement.dir, placement.base.as_deref())
    });
    let mut total = 0u64;
    let mut failed = None;
    while let Some(chunk) = body.next_chunk().await {
        match chunk {
            Ok(bytes) => {
                total += bytes.len() as u64;
                // A closed channel means the unpacker stopped: its error wins.
                if tx.send(bytes).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    drop(tx);
    unpacker.await.context("the unpacker failed")??;
    match failed {
        Some(e) => Err(e).context("reading the archive"),
        None => Ok(total),
    }
}

/// A blocking reader over chunks sent from the async side.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    buf: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.buf.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.buf = b,
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf.split_to(n));
        Ok(n)
    }
}

/// docker's "Successfully copied" line, on a terminal only.
fn report(args: &CpArgs, bytes: u64, dest: &str) {
    if !args.quiet && tty::stderr_is_terminal() {
        eprintln!(
            "Successfully copied {} to {dest}",
            units::human_size(bytes as f64, 3)
        );
    }
}

// --------------------------------------------------------- to a container

async fn to_container(
    ctx: &Ctx,
    args: &CpArgs,
    src: &str,
    container: &str,
    dest: &str,
) -> anyhow::Result<i32> {
    let dst_info = container_stat(ctx, container, dest).await?;
    let (dir, body, packed) = if src == "-" {
        if !dst_info.is_dir {
            bail!("destination \"{container}:{dest}\" must be a directory");
        }
        let body = RequestBody::reader(tokio::io::stdin());
        (dest.to_string(), body, None)
    } else {
        let (local, src_info, name) = local_source(src, args.follow_link)?;
        let placement = place(&name, &src_info, !contents_of(src), dest, &dst_info)?;
        let (body, packed) = pack_stream(local, placement.base, args.archive)?;
        let dir = placement.dir.to_string_lossy().into_owned();
        (dir, body, Some(packed))
    };
    let q = Query::new()
        .set("path", &dir)
        .set("noOverwriteDirNonDir", "true")
        .flag("copyUIDGID", args.archive);
    let path = format!("/containers/{}/archive", seg(container));
    let headers = [("Content-Type", "application/x-tar".to_string())];
    let resp = ctx
        .client
        .send(Method::PUT, &path, &q, &headers, body)
        .await?;
    berth_api::client::drain(resp).await?;
    // A tar from stdin is passed through unread: nothing to report.
    if let Some(packed) = packed {
        report(args, packed.load(Ordering::Relaxed), &args.dest);
    }
    Ok(0)
}

/// The destination in the container; missing is fine (the copy takes its
/// name).
async fn container_stat(ctx: &Ctx, container: &str, dest: &str) -> anyhow::Result<Info> {
    let path = format!("/containers/{}/archive", seg(container));
    let q = Query::new().set("path", dest);
    match ctx
        .client
        .send(Method::HEAD, &path, &q, &[], RequestBody::empty())
        .await
    {
        Ok(resp) => {
            let stat = resp
                .headers()
                .get(PathStat::HEADER)
                .and_then(|v| PathStat::decode(v.as_bytes()))
                .unwrap_or_default();
            Ok(Info {
                exists: true,
                is_dir: stat.is_dir(),
            })
        }
        Err(e) if e.is_connect() => Err(e.into()),
        // As docker: assume the parent exists; if it does not (or the
        // container does not), the upload says so.
        Err(_) => Ok(Info {
            exists: false,
            is_dir: false,
        }),
    }
}

/// The local source: its path (the symlink's target with `-L`), what it
/// is, and the name it has in the archive.
fn local_source(src: &str, follow: bool) -> anyhow::Result<(PathBuf, Info, OsString)> {
    let given = Path::new(src);
    let meta = std::fs::symlink_metadata(given)
        .map_err(|e| anyhow::anyhow!("lstat {src}: {}", go_error(&e)))?;
    let (_, name) = split_dir_entry(src);
    let resolved = if follow && meta.file_type().is_symlink() {
        std::fs::canonicalize(given).with_context(|| format!("stat {src}"))?
    } else {
        given.to_path_buf()
    };
    let is_dir = std::fs::symlink_metadata(&resolved)
        .with_context(|| format!("lstat {}", resolved.display()))?
        .is_dir();
    Ok((
        resolved,
        Info {
            exists: true,
            is_dir,
        },
        name,
    ))
}

/// An OS error as Go words it ("no such file or directory").
fn go_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text.to_string(),
    }
}

/// A tar of `src` (named `base`) packed on a blocking thread into a pipe
/// that the request body reads.
/// Also returns the count of bytes packed, for the report.
fn pack_stream(
    src: PathBuf,
    base: Option<OsString>,
    keep_ids: bool,
) -> anyhow::Result<(RequestBody, Arc<AtomicU64>)> {
    let (read, write) = nix::unistd::pipe().context("making a pipe")?;
    let count = Arc::new(AtomicU64::new(0));
    let out = Counting {
        inner: std::io::BufWriter::new(std::fs::File::from(write)),
        count: count.clone(),
    };
    tokio::task::spawn_blocking(move || {
        if let Err(e) = cp_archive::pack(&src, base.as_deref(), keep_ids, out) {
            // The body ends short; the daemon refuses the broken archive.
            eprintln!("berth: packing {}: {e}", src.display());
        }
    });
    let reader = tokio::fs::File::from_std(std::fs::File::from(read));
    Ok((RequestBody::reader(reader), count))
}

/// A writer counting what goes through it.
struct Counting<W> {
    inner: W,
    count: Arc<AtomicU64>,
}

impl<W: std::io::Write> std::io::Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_docker() {
        assert_eq!(split("c:/etc"), (Some("c"), "/etc"));
        assert_eq!(split("/a:b"), (None, "/a:b"));
        assert_eq!(split("./c:d"), (None, "./c:d"));
        assert_eq!(split("-"), (None, "-"));
    }

    #[test]
    fn places_like_docker() {
        let file = Info {
            exists: true,
            is_dir: false,
        };
        let dir = Info {
            exists: true,
            is_dir: true,
        };
        let none = Info {
            exists: false,
            is_dir: false,
        };
        let n = OsStr::new("hosts");
        let p = place(n, &file, true, "/tmp/d", &dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (p.dir, p.base),
            (PathBuf::from("/tmp/d"), Some("hosts".into()))
        );
        let p = place(n, &file, true, "/tmp/new", &none).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((p.dir, p.base), (PathBuf::from("/tmp"), Some("new".into())));
        let p = place(n, &dir, false, "/tmp/d", &dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((p.dir, p.base), (PathBuf::from("/tmp/d"), None));
        assert!(place(n, &dir, true, "/tmp/f", &file).is_err());
        assert!(place(n, &file, true, "/tmp/new/", &none).is_err());
        let p = place(n, &file, true, "rel", &none).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.dir, PathBuf::from("."));
    }
}
