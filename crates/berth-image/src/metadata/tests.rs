use super::*;

fn layer(n: u8) -> ImageLayer {
    let diff_id = format!("sha256:{}", hex::encode([n; 32]));
    ImageLayer {
        blob: Descriptor {
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            digest: format!("sha256:{}", hex::encode([n + 100; 32])),
            size: 10,
            platform: None,
            annotations: None,
        },
        diff_id,
    }
}

fn image(id: u8, layers: &[u8]) -> ImageRecord {
    ImageRecord {
        id: format!("sha256:{}", hex::encode([id; 32])),
        manifest_digest: format!("sha256:{}", hex::encode([id + 1; 32])),
        manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        config_size: 100,
        layers: layers.iter().map(|n| layer(*n)).collect(),
        repo_digests: vec![],
        stored_at: 0,
    }
}

fn sizes(layers: &[u8]) -> BTreeMap<String, u64> {
    layers.iter().map(|n| (layer(*n).diff_id, 1000)).collect()
}

#[test]
fn shared_layers_are_counted_and_released_last() {
    let dir = tempfile::tempdir().unwrap();
    let store = MetadataStore::open(dir.path()).unwrap();
    let a = image(1, &[10, 11]);
    let b = image(2, &[10, 12]);
    store
        .commit_image(
            &a,
            &["docker.io/library/a:latest".into()],
            &sizes(&[10, 11]),
        )
        .unwrap();
    store
        .commit_image(
            &b,
            &["docker.io/library/b:latest".into()],
            &sizes(&[10, 12]),
        )
        .unwrap();
    assert_eq!(store.layer(&layer(10).diff_id).unwrap().unwrap().refs, 2);
    assert_eq!(store.layer(&layer(11).diff_id).unwrap().unwrap().size, 1000);

    let released = store.remove_image(&a.id).unwrap();
    assert_eq!(released.untagged, vec!["docker.io/library/a:latest"]);
    assert_eq!(released.layers, vec![layer(11).diff_id]);
    assert_eq!(store.layer(&layer(10).diff_id).unwrap().unwrap().refs, 1);

    let released = store.remove_image(&b.id).unwrap();
    assert_eq!(released.layers, vec![layer(10).diff_id, layer(12).diff_id]);
    assert!(store.layers().unwrap().is_empty());
    assert!(store.tags().unwrap().is_empty());
}

#[test]
fn committing_an_image_twice_does_not_double_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = MetadataStore::open(dir.path()).unwrap();
    let mut a = image(1, &[10]);
    store
        .commit_image(&a, &["x:1".into()], &sizes(&[10]))
        .unwrap();
    a.repo_digests = vec!["docker.io/library/a@sha256:00".into()];
    store
        .commit_image(&a, &["x:2".into()], &sizes(&[10]))
        .unwrap();
    assert_eq!(store.layer(&layer(10).diff_id).unwrap().unwrap().refs, 1);
    assert_eq!(store.image(&a.id).unwrap().unwrap().repo_digests.len(), 1);
    assert_eq!(store.tags_of(&a.id).unwrap(), vec!["x:1", "x:2"]);
}

#[test]
fn moving_a_tag_reports_the_previous_image() {
    let dir = tempfile::tempdir().unwrap();
    let store = MetadataStore::open(dir.path()).unwrap();
    let a = image(1, &[10]);
    let b = image(2, &[11]);
    store
        .commit_image(&a, &["t".into()], &sizes(&[10]))
        .unwrap();
    let moved = store
        .commit_image(&b, &["t".into()], &sizes(&[11]))
        .unwrap();
    assert_eq!(moved, vec![a.id.clone()]);
    assert_eq!(store.resolve_tag("t").unwrap(), Some(b.id.clone()));
    assert_eq!(store.tag("u", &a.id).unwrap(), None);
    assert!(matches!(
        store.tag("v", "sha256:nope"),
        Err(MetadataError::NoSuchImage(_))
    ));
    assert_eq!(store.untag("u").unwrap(), Some(a.id.clone()));
    assert_eq!(store.untag("u").unwrap(), None);
}

#[test]
fn containers_are_tracked_per_image() {
    let dir = tempfile::tempdir().unwrap();
    let store = MetadataStore::open(dir.path()).unwrap();
    store.add_container("c1", "sha256:a").unwrap();
    store.add_container("c2", "sha256:a").unwrap();
    store.add_container("c3", "sha256:b").unwrap();
    assert_eq!(
        store.containers_using("sha256:a").unwrap(),
        vec!["c1", "c2"]
    );
    store.remove_container("c1").unwrap();
    assert_eq!(store.containers_using("sha256:a").unwrap(), vec!["c2"]);
}

#[test]
fn container_references_are_rebuilt_from_the_records() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = MetadataStore::open(dir.path()).unwrap();
        store.add_container("lost", "sha256:a").unwrap();
        store
            .set_containers(&[
                ("c1".into(), "sha256:a".into()),
                ("c2".into(), "sha256:b".into()),
            ])
            .unwrap();
        assert_eq!(store.containers_using("sha256:a").unwrap(), vec!["c1"]);
        // Volatile, but visible at once, and durable with the next
        // durable commit.
        store.add_container("c3", "sha256:b").unwrap();
        store.untag("nothing").unwrap();
    }
    let store = MetadataStore::open(dir.path()).unwrap();
    assert_eq!(
        store.containers_using("sha256:b").unwrap(),
        vec!["c2", "c3"]
    );
}

#[test]
fn state_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let a = image(1, &[10]);
    {
        let store = MetadataStore::open(dir.path()).unwrap();
        store
            .commit_image(&a, &["t".into()], &sizes(&[10]))
            .unwrap();
    }
    let store = MetadataStore::open(dir.path()).unwrap();
    assert_eq!(store.image(&a.id).unwrap(), Some(a.clone()));
    assert_eq!(store.resolve_tag("t").unwrap(), Some(a.id));
}
