//! Fixes to berthd found by running the docker CLI and berth against it:
//! `docker cp` of `DIR/.` and through the container's mounts, archive
//! errors as 4xx, `system df` numbers, `system prune` and `network ls`,
//! `commit --change`, `volume rm -f` of a missing volume, `run --rm` gone
//! when it returns (its files going later) and `--rm` containers across a
//! crash of berthd. Scenarios run
//! through both CLIs; raw API checks use curl on the socket.
//!
//! Needs root: `cargo build -p berthd -p berth-shim -p berth` first. Each
//! test has its own berthd, removed on drop; temp dirs are `TempDir`s.
//! No timing assertions.

use runtime_tests::berthd::{poll, text, Berthd, Client};
use runtime_tests::both_clients;
use runtime_tests::unique_id;

both_clients!(
    ps_size_shows_what_a_container_wrote,
    cp_dir_dot_copies_the_contents,
    cp_sees_the_containers_mounts,
    cp_of_a_stopped_container_sees_its_mounts,
    system_df_counts_containers_and_volumes,
    system_prune,
    commit_with_changes,
    volume_rm_force_of_a_missing_volume,
    run_rm_is_gone_when_it_returns,
);

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("berth-fixes-")
        .tempdir_in("/tmp")
        .expect("tempdir")
}

fn sleeper(c: &Client, flags: &[&str]) -> String {
    let n = unique_id("fix");
    let mut args = vec!["run", "-d", "--name", &n];
    args.extend_from_slice(flags);
    args.extend(["busybox", "sleep", "600"]);
    c.ok(&args);
    n
}

/// Scenario: `cp c:/etc/. dst` puts the contents of /etc in dst, names
/// intact (a file with a dot in its name included).
fn cp_dir_dot_copies_the_contents(c: &Client) {
    let who = c.name();
    let ctr = sleeper(c, &[]);
    c.ok(&[
        "exec",
        &ctr,
        "sh",
        "-c",
        "mkdir -p /srv/d/sub && echo x > /srv/d/a.conf && echo y > /srv/d/sub/b.txt",
    ]);
    let tmp = scratch();
    let dst = tmp.path().join("dst");
    c.ok(&["cp", &format!("{ctr}:/srv/d/."), dst.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(dst.join("a.conf")).unwrap_or_default(),
        "x\n",
        "[{who}]"
    );
    assert_eq!(
        std::fs::read_to_string(dst.join("sub/b.txt")).unwrap_or_default(),
        "y\n",
        "[{who}]"
    );
    let mut names: Vec<String> = std::fs::read_dir(&dst)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a.conf", "sub"], "[{who}]");
    // Into an existing directory: the contents again, not a `d` in it.
    let existing = tmp.path().join("existing");
    std::fs::create_dir(&existing).unwrap();
    c.ok(&["cp", &format!("{ctr}:/srv/d/."), existing.to_str().unwrap()]);
    assert!(
        existing.join("a.conf").is_file() && !existing.join("d").exists(),
        "[{who}]"
    );
}

/// Scenario: cp reads the container's /etc/hostname (bind-mounted from the
/// container's dir), and reads and writes a named volume and a bind mount
/// through the mount, not the image layer under it.
fn cp_sees_the_containers_mounts(c: &Client) {
    cp_through_mounts(c, false);
}

/// Scenario: the same through a stopped container.
fn cp_of_a_stopped_container_sees_its_mounts(c: &Client) {
    cp_through_mounts(c, true);
}

fn cp_through_mounts(c: &Client, stopped: bool) {
    let vol = unique_id("fixvol");
    let host = scratch();
    std::fs::write(host.path().join("from-host"), "host\n").unwrap();
    let bind = format!("{}:/bound", host.path().display());
    let named = format!("{vol}:/data");
    let flags = ["--hostname", "cp-host", "-v", &named, "-v", &bind];
    let ctr = sleeper(c, &flags);
    c.ok(&["exec", &ctr, "sh", "-c", "echo in-volume > /data/f"]);
    if stopped {
        c.ok(&["stop", "-t", "0", &ctr]);
    }
    check_mounts_seen(c, &ctr, host.path());
    c.ok(&["rm", "-f", &ctr]);
    c.ok(&["volume", "rm", &vol]);
}

fn check_mounts_seen(c: &Client, ctr: &str, host: &std::path::Path) {
    let who = c.name();
    let tmp = scratch();
    let dir = tmp.path();
    let got = dir.join("hostname");
    c.ok(&["cp", &format!("{ctr}:/etc/hostname"), got.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(&got).unwrap(),
        "cp-host\n",
        "[{who}]"
    );
    let got = dir.join("f");
    c.ok(&["cp", &format!("{ctr}:/data/f"), got.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(&got).unwrap(),
        "in-volume\n",
        "[{who}]"
    );
    let got = dir.join("from-host");
    c.ok(&[
        "cp",
        &format!("{ctr}:/bound/from-host"),
        got.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "host\n", "[{who}]");
    // Writes land in the mounts' sources.
    let src = dir.join("new.txt");
    std::fs::write(&src, "copied\n").unwrap();
    c.ok(&["cp", src.to_str().unwrap(), &format!("{ctr}:/bound/")]);
    assert_eq!(
        std::fs::read_to_string(host.join("new.txt")).unwrap(),
        "copied\n",
        "[{who}]"
    );
    c.ok(&["cp", src.to_str().unwrap(), &format!("{ctr}:/data/")]);
    let got = dir.join("back.txt");
    c.ok(&["cp", &format!("{ctr}:/data/new.txt"), got.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(&got).unwrap(),
        "copied\n",
        "[{who}]"
    );
}

/// Scenario: system df counts a running container, a volume in use and
/// the image as active; -v lists them.
fn system_df_counts_containers_and_volumes(c: &Client) {
    let who = c.name();
    let vol = unique_id("dfvol");
    let ctr = sleeper(c, &["-v", &format!("{vol}:/data")]);
    c.ok(&[
        "exec",
        &ctr,
        "sh",
        "-c",
        "head -c 100000 /dev/zero > /data/blob; head -c 50000 /dev/zero > /rw",
    ]);
    let rows = c.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]);
    for want in ["Images 1 1", "Containers 1 1", "Local Volumes 1 1"] {
        assert!(
            rows.lines().any(|l| l == want),
            "[{who}] lacks {want:?}:\n{rows}"
        );
    }
    let verbose = c.ok(&["system", "df", "-v"]);
    assert!(verbose.contains(&ctr), "[{who}] df -v:\n{verbose}");
    assert!(verbose.contains(&vol), "[{who}] df -v:\n{verbose}");
    let (code, body) = c.d.curl("GET", "/system/df", None);
    assert_eq!(code, 200, "{body}");
    let df: serde_json::Value = serde_json::from_str(&body).expect("df JSON");
    let ctr_row = &df["Containers"][0];
    assert!(
        ctr_row["SizeRw"].as_i64().unwrap_or(0) >= 50_000,
        "[{who}] {ctr_row}"
    );
    assert!(
        ctr_row["SizeRootFs"].as_i64() > ctr_row["SizeRw"].as_i64(),
        "[{who}] {ctr_row}"
    );
    let vol_row = &df["Volumes"][0];
    assert_eq!(vol_row["UsageData"]["RefCount"], 1, "[{who}] {vol_row}");
    assert!(
        vol_row["UsageData"]["Size"].as_i64().unwrap_or(0) >= 100_000,
        "[{who}] {vol_row}"
    );
    assert_eq!(df["Images"][0]["Containers"], 1, "[{who}]");
    assert_eq!(df["LayersSize"], df["Images"][0]["Size"], "[{who}]");
    // A second image sharing busybox's layers adds only its own layer.
    let image = format!("{}:v1", unique_id("shared"));
    c.ok(&["commit", &ctr, &image]);
    let (_, body) = c.d.curl("GET", "/system/df", None);
    let df: serde_json::Value = serde_json::from_str(&body).expect("df JSON");
    let sizes: Vec<i64> = df["Images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Size"].as_i64().unwrap())
        .collect();
    let layers = df["LayersSize"].as_i64().unwrap();
    assert!(
        layers < sizes.iter().sum::<i64>() && layers >= *sizes.iter().max().unwrap(),
        "[{who}] {df}"
    );
    c.ok(&["rm", "-f", &ctr]);
}

/// The docker CLI only: berth has no `network` command.
mod docker_only {
    use super::*;
    use runtime_tests::berthd::Cli;

    #[test]
    fn network_ls() {
        let d = Berthd::start();
        network_ls_lists_host_and_none(&d.client(Cli::Docker));
    }
}

/// Scenario: system prune (plain, -a, --volumes) succeeds.
fn system_prune(c: &Client) {
    let who = c.name();
    let vol = unique_id("prunevol");
    c.ok(&["volume", "create", &vol]);
    c.ok(&["run", "--name", &unique_id("done"), "busybox", "true"]);
    let out = c.ok(&["system", "prune", "-f"]);
    assert!(
        out.contains("Total reclaimed space"),
        "[{who}] prune:\n{out}"
    );
    c.ok(&["system", "prune", "-f", "-a", "--volumes"]);
    // Named volumes stay: system prune --volumes removes anonymous ones
    // only (API 1.42+), as dockerd.
    let out = c.ok(&["volume", "ls", "-q"]);
    assert!(out.contains(&vol), "[{who}] pruned the named {vol}:\n{out}");
}

/// Scenario: network ls shows the built-in host and none networks.
fn network_ls_lists_host_and_none(c: &Client) {
    let who = c.name();
    let ls = c.ok(&[
        "network",
        "ls",
        "--format",
        "{{.Name}} {{.Driver}} {{.Scope}}",
    ]);
    let mut lines: Vec<&str> = ls.lines().collect();
    lines.sort();
    assert_eq!(lines, ["host host local", "none null local"], "[{who}]");
    let ls = c.ok(&["network", "ls"]);
    assert!(ls.starts_with("NETWORK ID"), "[{who}] network ls:\n{ls}");
}

/// Scenario: commit -c applies Dockerfile changes; the container's PATH
/// survives an ENV change.
fn commit_with_changes(c: &Client) {
    let who = c.name();
    let ctr = unique_id("changed");
    c.ok(&["run", "--name", &ctr, "-e", "KEEP=kept", "busybox", "true"]);
    let image = format!("{}:v1", unique_id("withchanges"));
    c.ok(&[
        "commit",
        "-c",
        "ENV X=1",
        "-c",
        "LABEL purpose=test",
        "-c",
        "WORKDIR /tmp",
        "-c",
        "EXPOSE 8080",
        "-c",
        "USER nobody",
        "-c",
        "CMD [\"sh\", \"-c\", \"echo $X $KEEP; pwd; id -u\"]",
        &ctr,
        &image,
    ]);
    let out = c.ok(&["run", "--rm", &image]);
    assert_eq!(out, "1 kept\n/tmp\n65534\n", "[{who}]");
    let env = c.ok(&["image", "inspect", "-f", "{{json .Config.Env}}", &image]);
    assert!(
        env.contains("PATH=") && env.contains("X=1"),
        "[{who}] {env}"
    );
    let got = c.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Config.Labels.purpose}} {{json .Config.ExposedPorts}}",
        &image,
    ]);
    assert_eq!(got.trim(), "test {\"8080/tcp\":{}}", "[{who}]");
    let args = ["commit", "-c", "RUN true", &ctr];
    let out = c.run(&args);
    assert!(!out.status.success(), "{}", c.show(&args, &out));
}

/// Scenario: volume rm -f of a missing volume succeeds; without -f fails.
fn volume_rm_force_of_a_missing_volume(c: &Client) {
    let missing = unique_id("missing");
    c.ok(&["volume", "rm", "-f", &missing]);
    let args = ["volume", "rm", &missing];
    let out = c.run(&args);
    assert!(!out.status.success(), "{}", c.show(&args, &out));
    assert!(
        text(&out.stderr).contains("no such volume"),
        "{}",
        c.show(&args, &out)
    );
}

/// Raw API: the archive's stat and names for `PATH/.`, and 4xx for bad
/// paths.
#[test]
fn archive_api_statuses_and_names() {
    let d = Berthd::start();
    let c = d.client(runtime_tests::berthd::Cli::Docker);
    let ctr = sleeper(&c, &[]);
    let stat = |path: &str| -> (u16, String) {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-I", "--max-time", "60", "--unix-socket"])
            .arg(d.socket())
            .arg(format!(
                "http://localhost/containers/{ctr}/archive?path={path}"
            ))
            .output()
            .expect("curl");
        let head = text(&out.stdout);
        let code = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let header = head
            .lines()
            .find_map(|l| l.strip_prefix("x-docker-container-path-stat: "))
            .or_else(|| {
                head.lines()
                    .find_map(|l| l.strip_prefix("X-Docker-Container-Path-Stat: "))
            })
            .unwrap_or("")
            .trim()
            .to_string();
        (code, header)
    };
    let (code, header) = stat("/etc/.");
    assert_eq!(code, 200);
    let decoded = std::process::Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut ch| {
            use std::io::Write;
            ch.stdin.take().unwrap().write_all(header.as_bytes())?;
            ch.wait_with_output()
        })
        .expect("base64");
    let json: serde_json::Value = serde_json::from_slice(&decoded.stdout).expect("stat JSON");
    assert_eq!(json["name"], ".", "{json}");
    assert_eq!(stat("/etc/hostname/").0, 400);
    assert_eq!(stat("/etc/hostname/x").0, 400);
    assert_eq!(stat("/no/such").0, 404);
    assert_eq!(stat("").0, 400);
    let (code, body) = d.curl(
        "PUT",
        &format!("/containers/{ctr}/archive?path=/etc/hostname"),
        Some(b""),
    );
    assert_eq!(code, 400, "{body}");
    let (code, body) = d.curl(
        "PUT",
        &format!("/containers/{ctr}/archive?path=/no/such"),
        Some(b""),
    );
    assert_eq!(code, 404, "{body}");
    let (code, body) = d.curl("DELETE", "/volumes/nope-missing?force=1", None);
    assert_eq!(code, 204, "{body}");
    let (code, body) = d.curl("POST", "/networks/prune", None);
    assert_eq!((code, body.trim()), (200, "{\"NetworksDeleted\":null}"));
    let (code, body) = d.curl("POST", "/build/prune", None);
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"CachesDeleted": null, "SpaceReclaimed": 0})
    );
    c.ok(&["rm", "-f", &ctr]);
}

/// Scenario: `ps -s` shows the bytes a container wrote and its virtual
/// size (the image's added).
fn ps_size_shows_what_a_container_wrote(c: &Client) {
    let who = c.name();
    let n = unique_id("sized");
    c.ok(&[
        "run",
        "--name",
        &n,
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/blob",
        "bs=1000",
        "count=3000",
    ]);
    let out = c.ok(&[
        "ps",
        "-a",
        "-s",
        "--filter",
        &format!("name={n}"),
        "--format",
        "{{.Size}}",
    ]);
    assert!(
        out.trim().starts_with("3MB (virtual "),
        "[{who}] ps -s of a container that wrote 3 MB: {out:?}"
    );
    c.ok(&["rm", &n]);
}

/// Scenario: once `run --rm` returns, the container is gone for `ps -a`,
/// `inspect` and its name, though its files (writable layer, shim
/// directory) go in the background, and soon. A `--rm` container berthd
/// finds not running when it starts again is removed (as dockerd does),
/// one still running is kept, and other containers stay.
fn run_rm_is_gone_when_it_returns(c: &Client) {
    let who = c.name();
    let d = c.d;
    for i in 0..10 {
        let n = unique_id("rmgone");
        let out = c.ok(&["run", "--rm", "--name", &n, "busybox", "echo", "out"]);
        assert_eq!(out, "out\n", "[{who}] run #{i}");
        let listed = c.ok(&["ps", "-aq", "--filter", &format!("name={n}")]);
        assert!(
            listed.trim().is_empty(),
            "[{who}] run #{i}: ps -a still lists {n}: {listed:?}"
        );
        let out = c.run(&["inspect", &n]);
        assert!(
            !out.status.success() && text(&out.stderr).contains("No such"),
            "[{who}] run #{i}: {}",
            c.show(&["inspect", &n], &out)
        );
        // The name is free at once.
        c.ok(&["run", "--name", &n, "busybox", "true"]);
        c.ok(&["rm", &n]);
    }
    let containers = d.data_root().join("containers");
    let exec_root = d.exec_root();
    poll(30, "the removed containers' files", || {
        let left: Vec<_> = std::fs::read_dir(&containers)
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        // The exec root keeps the runtime's own directory.
        let shims: Vec<_> = std::fs::read_dir(&exec_root)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name())
                    .filter(|f| f != "runtime")
                    .collect()
            })
            .unwrap_or_default();
        (left.is_empty() && shims.is_empty()).then_some(())
    });

    let created = unique_id("rmcreated");
    let running = unique_id("rmrunning");
    let kept = unique_id("kept");
    c.ok(&["create", "--rm", "--name", &created, "busybox", "true"]);
    c.ok(&[
        "run", "-d", "--rm", "--name", &running, "busybox", "sleep", "600",
    ]);
    c.ok(&["create", "--name", &kept, "busybox", "true"]);
    d.kill9();
    d.spawn();
    poll(30, "the --rm container that was not running to go", || {
        let names = c.ok(&["ps", "-a", "--format", "{{.Names}}"]);
        (!names.lines().any(|l| l.trim() == created)).then_some(())
    });
    let names = c.ok(&["ps", "-a", "--format", "{{.Names}}\t{{.Status}}"]);
    assert!(
        names
            .lines()
            .any(|l| l.starts_with(&format!("{running}\tUp"))),
        "[{who}] the running --rm container did not survive the restart:\n{names}\n{}",
        d.log_tail(30)
    );
    assert!(
        names.lines().any(|l| l.starts_with(&format!("{kept}\t"))),
        "[{who}] {kept} went with the restart:\n{names}"
    );
    c.ok(&["rm", "-f", &running, &kept]);
}
