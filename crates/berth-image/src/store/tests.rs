use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;

const HELLO: &[u8] = b"hello, berth\n";

fn store() -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = BlobStore::open(dir.path().join("store")).expect("open store");
    (dir, store)
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn blobs_dir(store: &BlobStore) -> std::path::PathBuf {
    store.root().join("blobs").join("sha256")
}

fn ingest_dir(store: &BlobStore) -> std::path::PathBuf {
    store.root().join("ingest")
}

fn assert_empty(store: &BlobStore) {
    assert!(entries(&blobs_dir(store)).is_empty(), "blobs/ not empty");
    assert!(entries(&ingest_dir(store)).is_empty(), "ingest/ not empty");
}

#[test]
fn open_creates_layout_with_private_root() {
    let (_dir, store) = store();
    let mode = fs::metadata(store.root())
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(blobs_dir(&store).is_dir());
    assert!(ingest_dir(&store).is_dir());
    assert_empty(&store);
}

#[test]
fn write_commit_roundtrip() {
    let (_dir, store) = store();
    let digest = BlobDigest::of_bytes(HELLO);
    assert!(!store.contains(&digest).expect("contains"));

    let mut w = store
        .writer(digest.as_str(), Some(HELLO.len() as u64))
        .expect("writer");
    // Several writes, to exercise incremental hashing.
    w.write_all(&HELLO[..5]).expect("write");
    w.write_all(&HELLO[5..]).expect("write");
    assert_eq!(w.written(), HELLO.len() as u64);
    let path = w.commit().expect("commit");

    assert_eq!(path, blobs_dir(&store).join(digest.hex()));
    assert!(store.contains(&digest).expect("contains"));
    assert_eq!(store.get(&digest).expect("get"), HELLO);
    assert_eq!(store.size(&digest).expect("size"), HELLO.len() as u64);
    let mut via_file = Vec::new();
    store
        .open_blob(&digest)
        .expect("open_blob")
        .read_to_end(&mut via_file)
        .expect("read");
    assert_eq!(via_file, HELLO);
    store.verify(&digest).expect("verify");
    assert!(entries(&ingest_dir(&store)).is_empty());
}

#[test]
fn writer_without_size_and_put_bytes() {
    let (_dir, store) = store();
    let digest = BlobDigest::of_bytes(HELLO);
    let mut w = store.writer(&digest, None).expect("writer");
    w.write_all(HELLO).expect("write");
    w.commit().expect("commit");

    let again = store.put_bytes(HELLO).expect("put_bytes");
    assert_eq!(again, digest);
    let empty = store.put_bytes(b"").expect("put empty");
    assert_eq!(
        empty.as_str(),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(store.get(&empty).expect("get empty"), b"");
}

#[test]
fn digest_mismatch_leaves_nothing() {
    let (_dir, store) = store();
    let expected = BlobDigest::of_bytes(b"what the manifest promised");
    let mut w = store
        .writer(&expected, Some(HELLO.len() as u64))
        .expect("writer");
    w.write_all(HELLO).expect("write");
    let err = w.commit().expect_err("mismatch must fail");
    match &err {
        StoreError::DigestMismatch {
            expected: e,
            actual,
        } => {
            assert_eq!(e, expected.as_str());
            assert_eq!(actual, BlobDigest::of_bytes(HELLO).as_str());
        }
        other => panic!("unexpected error {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(expected.as_str()), "{msg}");
    assert!(msg.contains(BlobDigest::of_bytes(HELLO).as_str()), "{msg}");
    assert_empty(&store);
    assert!(!store.contains(&expected).expect("contains"));
}

#[test]
fn size_mismatch_short_leaves_nothing() {
    let (_dir, store) = store();
    let digest = BlobDigest::of_bytes(HELLO);
    let mut w = store
        .writer(&digest, Some(HELLO.len() as u64 + 1))
        .expect("writer");
    w.write_all(HELLO).expect("write");
    match w.commit() {
        Err(StoreError::SizeMismatch {
            digest: d,
            expected,
            actual,
        }) => {
            assert_eq!(d, digest.as_str());
            assert_eq!(expected, HELLO.len() as u64 + 1);
            assert_eq!(actual, HELLO.len() as u64);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_empty(&store);
}

#[test]
fn size_mismatch_long_is_refused_while_writing() {
    let (_dir, store) = store();
    let digest = BlobDigest::of_bytes(HELLO);
    let mut w = store.writer(&digest, Some(4)).expect("writer");
    w.write_all(&HELLO[..4]).expect("first 4 bytes fit");
    let err = w.write_all(&HELLO[4..]).expect_err("overflow refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert_eq!(w.written(), 4);
    match w.commit() {
        Err(StoreError::SizeMismatch {
            expected, actual, ..
        }) => {
            assert_eq!(expected, 4);
            assert_eq!(actual, HELLO.len() as u64);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_empty(&store);
}

#[test]
fn invalid_digests_rejected() {
    let (dir, store) = store();
    let hex = "a".repeat(64);
    let bad = [
        "".to_string(),
        "../x".to_string(),
        "sha256:../../../etc/passwd".to_string(),
        format!("sha256:../{}", &hex[..61]),
        format!("sha256:{}", "A".repeat(64)),
        format!(
            "sha256:{}",
            "ABCDEF0123".repeat(7).get(..64).unwrap_or_default()
        ),
        format!("sha256:{}", &hex[..63]),
        format!("sha256:{hex}0"),
        format!("sha256:{hex}/"),
        format!("sha256:{}g", &hex[..63]),
        format!("md5:{}", &"0".repeat(32)),
        format!("sha512:{}", "0".repeat(128)),
        format!("SHA256:{hex}"),
        hex.clone(),
        format!(" sha256:{hex}"),
        format!("sha256:{hex}\n"),
        format!("sha256:{}\0{}", &hex[..32], &hex[..31]),
        format!("sha256:{}é", &hex[..62]),
    ];
    for s in &bad {
        assert!(
            matches!(BlobDigest::parse(s), Err(StoreError::InvalidDigest { .. })),
            "{s:?} accepted"
        );
        assert!(
            matches!(store.writer(s, None), Err(StoreError::InvalidDigest { .. })),
            "writer accepted {s:?}"
        );
        assert!(matches!(
            store.get(s),
            Err(StoreError::InvalidDigest { .. })
        ));
        assert!(matches!(
            store.open_blob(s),
            Err(StoreError::InvalidDigest { .. })
        ));
        assert!(matches!(
            store.contains(s),
            Err(StoreError::InvalidDigest { .. })
        ));
        assert!(matches!(
            store.size(s),
            Err(StoreError::InvalidDigest { .. })
        ));
        assert!(matches!(
            store.delete(s),
            Err(StoreError::InvalidDigest { .. })
        ));
        assert!(matches!(
            store.verify(s),
            Err(StoreError::InvalidDigest { .. })
        ));
        assert!(matches!(
            store.blob_path(s),
            Err(StoreError::InvalidDigest { .. })
        ));
    }
    assert_empty(&store);
    // Nothing appeared next to the store either.
    assert_eq!(entries(dir.path()), vec!["store".to_string()]);

    let good = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let parsed: BlobDigest = good.parse().expect("valid digest");
    assert_eq!(parsed.as_str(), good);
    assert_eq!(parsed.hex(), &good[7..]);
    assert_eq!(parsed.algorithm(), "sha256");
    assert_eq!(parsed.to_string(), good);
}

#[test]
fn invalid_digest_error_is_bounded() {
    let huge = "x".repeat(1 << 20);
    let err = BlobDigest::parse(&huge).expect_err("invalid");
    assert!(err.to_string().len() < 300, "error repeats the whole input");
}

#[test]
fn dropped_writer_cleans_up() {
    let (_dir, store) = store();
    let digest = BlobDigest::of_bytes(HELLO);
    let mut w = store.writer(&digest, None).expect("writer");
    w.write_all(&HELLO[..3]).expect("write");
    let ingest = w.ingest_path().to_path_buf();
    assert!(ingest.starts_with(ingest_dir(&store)));
    assert!(ingest.is_file());
    assert_eq!(entries(&ingest_dir(&store)).len(), 1);
    drop(w);
    assert!(!ingest.exists());
    assert_empty(&store);
}

#[test]
fn concurrent_writers_use_distinct_ingest_files() {
    let (_dir, store) = store();
    let digest = BlobDigest::of_bytes(HELLO);
    let mut a = store.writer(&digest, None).expect("writer a");
    let mut b = store.writer(&digest, None).expect("writer b");
    assert_ne!(a.ingest_path(), b.ingest_path());
    a.write_all(HELLO).expect("write a");
    b.write_all(HELLO).expect("write b");
    a.commit().expect("commit a");
    b.commit().expect("commit b");
    assert_eq!(store.list().expect("list"), vec![digest]);
    assert!(entries(&ingest_dir(&store)).is_empty());
}

#[test]
fn open_removes_leftover_ingest_files() {
    let (dir, store) = store();
    let root = store.root().to_path_buf();
    let kept = store.put_bytes(HELLO).expect("put");
    // A "crash": a partial ingest file (and a stray directory) left behind.
    fs::write(ingest_dir(&store).join("deadbeef-1234-0-0"), b"partial").expect("write leftover");
    fs::create_dir(ingest_dir(&store).join("stray-dir")).expect("mkdir");
    fs::write(ingest_dir(&store).join("stray-dir").join("f"), b"x").expect("write");
    drop(store);

    let store = BlobStore::open(&root).expect("reopen");
    assert!(entries(&ingest_dir(&store)).is_empty());
    assert_eq!(store.list().expect("list"), vec![kept.clone()]);
    store.verify(&kept).expect("verify");
    assert_eq!(store.gc_ingest().expect("gc"), 0);
    drop(dir);
}

#[test]
fn gc_ingest_counts_removed() {
    let (_dir, store) = store();
    fs::write(ingest_dir(&store).join("a"), b"1").expect("write");
    fs::write(ingest_dir(&store).join("b"), b"2").expect("write");
    assert_eq!(store.gc_ingest().expect("gc"), 2);
    assert_empty(&store);
}

#[test]
fn open_tightens_existing_root_permissions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("store");
    fs::create_dir(&root).expect("mkdir");
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod");
    let store = BlobStore::open(&root).expect("open");
    let mode = fs::metadata(store.root())
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn idempotent_commit_of_existing_blob() {
    let (_dir, store) = store();
    let digest = store.put_bytes(HELLO).expect("put");
    assert!(store.contains(&digest).expect("contains"));

    let mut w = store
        .writer(&digest, Some(HELLO.len() as u64))
        .expect("writer for existing blob");
    w.write_all(HELLO).expect("write");
    let path = w.commit().expect("second commit");
    assert_eq!(path, store.blob_path(&digest).expect("path"));
    assert_eq!(store.put_bytes(HELLO).expect("put again"), digest);

    assert_eq!(store.list().expect("list"), vec![digest.clone()]);
    assert_eq!(store.get(&digest).expect("get"), HELLO);
    assert!(entries(&ingest_dir(&store)).is_empty());

    // A failed rewrite of an existing blob leaves the stored one intact.
    let mut w = store.writer(&digest, None).expect("writer");
    w.write_all(b"not it").expect("write");
    assert!(matches!(w.commit(), Err(StoreError::DigestMismatch { .. })));
    store.verify(&digest).expect("still intact");
    assert!(entries(&ingest_dir(&store)).is_empty());
}

#[test]
fn list_and_delete() {
    let (_dir, store) = store();
    assert!(store.list().expect("list").is_empty());
    let a = store.put_bytes(b"a").expect("put a");
    let b = store.put_bytes(b"b").expect("put b");
    let c = store.put_bytes(b"c").expect("put c");
    // Junk under blobs/sha256 is not listed.
    fs::write(blobs_dir(&store).join("not-a-digest"), b"junk").expect("write junk");
    fs::create_dir(blobs_dir(&store).join("f".repeat(64))).expect("mkdir");

    let mut want = vec![a.clone(), b.clone(), c.clone()];
    want.sort();
    assert_eq!(store.list().expect("list"), want);

    assert!(store.delete(&b).expect("delete b"));
    assert!(!store.delete(&b).expect("delete b again"));
    assert!(!store.contains(&b).expect("contains"));
    assert!(matches!(store.get(&b), Err(StoreError::NotFound { .. })));
    assert!(matches!(
        store.open_blob(&b),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(store.size(&b), Err(StoreError::NotFound { .. })));
    assert!(matches!(store.verify(&b), Err(StoreError::NotFound { .. })));

    let mut want = vec![a, c];
    want.sort();
    assert_eq!(store.list().expect("list"), want);
}

#[test]
fn verify_detects_corruption() {
    let (_dir, store) = store();
    let digest = store.put_bytes(HELLO).expect("put");
    store.verify(&digest).expect("fresh blob verifies");

    let path = store.blob_path(&digest).expect("path");
    fs::write(&path, b"hello, BERTH\n").expect("corrupt by hand");
    match store.verify(&digest) {
        Err(StoreError::Corrupt {
            digest: d,
            actual,
            path: p,
        }) => {
            assert_eq!(d, digest.as_str());
            assert_eq!(actual, BlobDigest::of_bytes(b"hello, BERTH\n").as_str());
            assert_eq!(p, path);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        store.get(&digest),
        Err(StoreError::Corrupt { .. })
    ));

    // Truncation is corruption too.
    fs::write(&path, b"").expect("truncate");
    assert!(matches!(
        store.verify(&digest),
        Err(StoreError::Corrupt { .. })
    ));

    // Re-ingesting the right bytes repairs it.
    store.put_bytes(HELLO).expect("repair");
    store.verify(&digest).expect("repaired");
}

#[test]
fn symlinked_blob_is_not_followed() {
    let (dir, store) = store();
    let outside = dir.path().join("outside");
    fs::write(&outside, HELLO).expect("write");
    let digest = BlobDigest::of_bytes(HELLO);
    std::os::unix::fs::symlink(&outside, store.blob_path(&digest).expect("path")).expect("symlink");
    assert!(!store.contains(&digest).expect("contains"));
    assert!(store.open_blob(&digest).is_err());
    assert!(store.verify(&digest).is_err());
    assert!(store.list().expect("list").is_empty());
}
