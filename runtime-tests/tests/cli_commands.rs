//! End-to-end tests of the CLI commands added after the first slice (cp,
//! commit, diff, export, import, history, update, volume, system df,
//! search, attach, detach keys): every scenario is written once, as a
//! function of a [`Client`], and runs twice, through `berth` and through
//! the stock `docker` CLI, with the same assertions. Each test has its own
//! berthd (busybox loaded), removed on drop; the temp dirs made here are
//! `TempDir`s, removed on drop too. The registry is a local one on
//! 127.0.0.1.
//!
//! Needs root: `cargo build -p berthd -p berth-shim -p berth` first.
//! No timing assertions: every wait is a bounded poll.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runtime_tests::berthd::{pipe_stdin, poll, sh_quote, show, text, Client};
use runtime_tests::registry::Registry;
use runtime_tests::{fixture, unique_id};

use runtime_tests::both_clients;

both_clients!(
    cp_both_directions,
    cp_bad_input,
    commit_diff_history,
    commit_with_a_healthcheck,
    export_and_import,
    volumes_lifecycle,
    system_df_and_info,
    update_resources,
    run_mount_tmpfs_ulimit_flags,
    run_health_and_log_flags,
    search_a_local_registry,
    attach_to_a_running_container,
    detach_keys_on_a_pty,
    bad_detach_keys,
);

// ------------------------------------------------------------------ helpers

fn name(prefix: &str) -> String {
    unique_id(prefix)
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("berth-cli-")
        .tempdir_in("/tmp")
        .expect("tempdir")
}

/// Runs the CLI, asserts it failed (and did not hang), returns stderr.
fn fails(c: &Client, args: &[&str]) -> String {
    let out = c.run(args);
    assert!(
        !out.status.success(),
        "[{}] want a failure\n{}",
        c.name(),
        c.show(args, &out)
    );
    text(&out.stderr)
}

/// Runs the CLI, asserts it failed with `needle` in its message.
fn fails_with(c: &Client, args: &[&str], needle: &str) {
    let err = fails(c, args);
    assert!(
        err.contains(needle),
        "[{}] want {needle:?}:\n{err}",
        c.name()
    );
}

/// `run [FLAGS] --name PREFIX-N busybox sh -c SCRIPT`; returns the name.
fn shell(c: &Client, prefix: &str, flags: &[&str], script: &str) -> String {
    let n = name(prefix);
    let mut args = vec!["run"];
    args.extend_from_slice(flags);
    args.extend(["--name", &n, "busybox", "sh", "-c", script]);
    c.ok(&args);
    n
}

/// `sleep` in the background; returns the container's name.
fn sleeper(c: &Client) -> String {
    shell(c, "sleeper", &["-d"], "sleep 600")
}

/// Entry names of a tar archive, through the system's `tar -t`.
fn tar_names(archive: &[u8]) -> Vec<String> {
    let out = pipe_stdin(
        {
            let mut cmd = Command::new("tar");
            cmd.arg("-t");
            cmd
        },
        archive,
    );
    assert!(out.status.success(), "{}", show("tar -t", &out));
    text(&out.stdout).lines().map(str::to_string).collect()
}

// --------------------------------------------------------------------- cp

/// Scenario: cp both ways: a file, a directory (into an existing dir and
/// to a new name), a tar on stdout and on stdin.
fn cp_both_directions(c: &Client) {
    let who = c.name();
    let ctr = sleeper(c);
    let tmp = scratch();
    let dir = tmp.path();

    // Container → here: a file to a new name; /etc/hostname is the
    // container's (bind-mounted over the image's), as the container sees.
    let p = dir.join("hostname-copy");
    c.ok(&["cp", &format!("{ctr}:/etc/hostname"), p.to_str().unwrap()]);
    let want = c.ok(&["exec", &ctr, "cat", "/etc/hostname"]);
    assert!(!want.trim().is_empty(), "[{who}] /etc/hostname: {want:?}");
    assert_eq!(std::fs::read_to_string(&p).unwrap(), want, "[{who}]");

    // A directory into an existing directory keeps its name.
    c.ok(&["cp", &format!("{ctr}:/etc"), dir.to_str().unwrap()]);
    assert!(dir.join("etc/passwd").is_file(), "[{who}] no etc/passwd");
    // ... and to a new name takes that name.
    let renamed = dir.join("etc-renamed");
    c.ok(&["cp", &format!("{ctr}:/etc"), renamed.to_str().unwrap()]);
    assert!(
        renamed.join("group").is_file(),
        "[{who}] no etc-renamed/group"
    );

    // `-`: the archive on stdout.
    let args = ["cp", &format!("{ctr}:/bin/busybox"), "-"];
    let out = c.run(&args);
    assert!(out.status.success(), "{}", c.show(&args, &out));
    assert_eq!(
        tar_names(&out.stdout),
        vec!["busybox".to_string()],
        "[{who}]"
    );

    // Here → container: a file, a directory, a tar on stdin.
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("f.txt"), "file-data\n").unwrap();
    std::fs::write(src.join("sub/s.txt"), "sub-data\n").unwrap();
    let f = src.join("f.txt");
    c.ok(&[
        "cp",
        f.to_str().unwrap(),
        &format!("{ctr}:/tmp/renamed.txt"),
    ]);
    assert_eq!(
        c.ok(&["exec", &ctr, "cat", "/tmp/renamed.txt"]),
        "file-data\n"
    );
    c.ok(&["cp", src.to_str().unwrap(), &format!("{ctr}:/tmp/")]);
    assert_eq!(
        c.ok(&["exec", &ctr, "cat", "/tmp/src/sub/s.txt"]),
        "sub-data\n"
    );
    // Owned by root in the container (no -a).
    let owner = c.ok(&["exec", &ctr, "stat", "-c", "%u:%g", "/tmp/src/f.txt"]);
    assert_eq!(owner.trim(), "0:0", "[{who}]");
    // `SRC/.`: the contents, to a new directory.
    let contents = format!("{}/.", src.display());
    c.ok(&["cp", &contents, &format!("{ctr}:/tmp/contents")]);
    assert_eq!(
        c.ok(&["exec", &ctr, "cat", "/tmp/contents/f.txt"]),
        "file-data\n"
    );

    let tar = Command::new("tar")
        .arg("-C")
        .arg(&src)
        .args(["-c", "f.txt"])
        .output()
        .unwrap();
    assert!(tar.status.success(), "{}", show("tar -c", &tar));
    let args = ["cp", "-", &format!("{ctr}:/root")];
    let out = c.run_stdin(&args, &tar.stdout);
    assert!(out.status.success(), "{}", c.show(&args, &out));
    assert_eq!(c.ok(&["exec", &ctr, "cat", "/root/f.txt"]), "file-data\n");
}

/// Scenario: cp refusals: an unknown container, a missing local parent
/// directory, a missing container path, a missing local source.
fn cp_bad_input(c: &Client) {
    let who = c.name();
    let ctr = sleeper(c);
    let tmp = scratch();
    let dir = tmp.path();

    let unknown = name("nope");
    fails_with(
        c,
        &[
            "cp",
            &format!("{unknown}:/etc/hostname"),
            dir.to_str().unwrap(),
        ],
        "No such container",
    );

    let missing = dir.join("missing/dir/x");
    fails_with(
        c,
        &[
            "cp",
            &format!("{ctr}:/etc/hostname"),
            missing.to_str().unwrap(),
        ],
        "does not exist",
    );
    assert!(
        !dir.join("missing").exists(),
        "[{who}] made the missing dir"
    );

    fails_with(
        c,
        &["cp", &format!("{ctr}:/no/such/file"), dir.to_str().unwrap()],
        "Could not find the file",
    );

    let absent = dir.join("absent");
    fails_with(
        c,
        &["cp", absent.to_str().unwrap(), &format!("{ctr}:/tmp")],
        "no such file or directory",
    );

    fails_with(c, &["cp", "a", "b"], "must specify at least one container");
}

// --------------------------------------------- commit, diff, history

/// Scenario: a container's changes (diff), committed (the image runs and
/// has the file), and the new image's history.
fn commit_diff_history(c: &Client) {
    let who = c.name();
    let script = "echo committed > /marker; mkdir /newdir; rm /bin/uname";
    let ctr = shell(c, "changed", &[], script);
    let diff = c.ok(&["diff", &ctr]);
    let lines: Vec<&str> = diff.lines().collect();
    for want in ["A /marker", "A /newdir", "C /bin", "D /bin/uname"] {
        assert!(
            lines.contains(&want),
            "[{who}] diff lacks {want:?}:\n{diff}"
        );
    }

    let image = format!("{}:v1", name("committed"));
    let id = c.ok(&["commit", "-m", "the message", "-a", "me", &ctr, &image]);
    let id = id.trim();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "[{who}] commit printed {id:?}"
    );
    let out = c.ok(&["run", "--rm", &image, "cat", "/marker"]);
    assert_eq!(out, "committed\n", "[{who}]");
    let author = c.ok(&["image", "inspect", "-f", "{{.Author}}", &image]);
    assert_eq!(author.trim(), "me", "[{who}]");

    let table = c.ok(&["history", &image]);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        "[{who}] history:\n{table}"
    );
    let quiet = c.ok(&["history", "-q", &image]);
    assert_eq!(
        quiet.lines().next(),
        Some(&id[7..19]),
        "[{who}] history -q:\n{quiet}"
    );
    let full = c.ok(&["image", "history", "-q", "--no-trunc", &image]);
    assert_eq!(full.lines().next(), Some(id), "[{who}]");
    let comments = c.ok(&["history", "--format", "{{.Comment}}", &image]);
    assert_eq!(comments.lines().next(), Some("the message"), "[{who}]");
    assert!(
        quiet.lines().count() >= 2,
        "[{who}] one layer only:\n{quiet}"
    );

    // The management form, and a commit without a name: an untagged image.
    let id2 = c.ok(&["container", "commit", &ctr]);
    assert!(id2.trim().starts_with("sha256:"), "[{who}] {id2}");
}

// --------------------------------------------------- export and import

/// Scenario: export (piped and -o), import of that tar (file and stdin),
/// then run the imported image.
fn export_and_import(c: &Client) {
    let who = c.name();
    let ctr = shell(c, "exported", &[], "echo exported > /marker");

    let args = ["export", &ctr];
    let out = c.run(&args);
    assert!(out.status.success(), "{}", c.show(&args, &out));
    let names = tar_names(&out.stdout);
    assert!(
        names
            .iter()
            .any(|n| n.trim_start_matches("./") == "bin/busybox"),
        "[{who}] export lacks bin/busybox: {:?}",
        &names[..names.len().min(20)]
    );

    let tmp = scratch();
    let file = tmp.path().join("fs.tar");
    c.ok(&["export", "-o", file.to_str().unwrap(), &ctr]);
    assert_eq!(
        std::fs::read(&file).unwrap().len(),
        out.stdout.len(),
        "[{who}]"
    );

    let image = format!("{}:v1", name("imported"));
    let id = c.ok(&["import", "-m", "from a tar", file.to_str().unwrap(), &image]);
    assert!(
        id.trim().starts_with("sha256:"),
        "[{who}] import printed {id:?}"
    );
    let out = c.ok(&["run", "--rm", &image, "/bin/cat", "/marker"]);
    assert_eq!(out, "exported\n", "[{who}]");

    let args = ["image", "import", "-"];
    let out = c.run_stdin(&args, &std::fs::read(&file).unwrap());
    assert!(out.status.success(), "{}", c.show(&args, &out));
    let id = text(&out.stdout);
    assert!(
        id.trim().starts_with("sha256:"),
        "[{who}] import - printed {id:?}"
    );
    let out = c.ok(&["run", "--rm", id.trim(), "/bin/cat", "/marker"]);
    assert_eq!(out, "exported\n", "[{who}]");

    let absent = tmp.path().join("absent.tar");
    fails_with(c, &["import", absent.to_str().unwrap()], "absent.tar");
}

// ---------------------------------------------------------------- volumes

/// Scenario: volume create/ls/inspect, a named volume shared by two
/// containers, rm refused while in use, rm, prune.
fn volumes_lifecycle(c: &Client) {
    let who = c.name();
    let vol = name("vol");
    let out = c.ok(&["volume", "create", "--label", "purpose=test", &vol]);
    assert_eq!(out.trim(), vol, "[{who}]");

    let ls = c.ok(&["volume", "ls", "-q"]);
    assert!(ls.lines().any(|l| l == vol), "[{who}] volume ls -q:\n{ls}");
    let ls = c.ok(&["volume", "ls"]);
    assert!(ls.starts_with("DRIVER"), "[{who}] volume ls:\n{ls}");
    assert!(
        ls.lines()
            .any(|l| l.starts_with("local") && l.ends_with(&vol)),
        "[{who}] volume ls:\n{ls}"
    );
    let ls = c.ok(&[
        "volume",
        "ls",
        "-f",
        "label=purpose=test",
        "--format",
        "{{.Name}} {{.Driver}}",
    ]);
    assert_eq!(ls, format!("{vol} local\n"), "[{who}]");
    let inspected = c.ok(&[
        "volume",
        "inspect",
        "-f",
        "{{.Name}} {{.Driver}} {{.Labels.purpose}}",
        &vol,
    ]);
    assert_eq!(inspected.trim(), format!("{vol} local test"), "[{who}]");
    let json = c.ok(&["volume", "inspect", &vol]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("inspect JSON");
    assert_eq!(v[0]["Name"], vol.as_str(), "[{who}]");

    // Persists across containers.
    let mount = format!("{vol}:/data");
    c.ok(&[
        "run",
        "--rm",
        "-v",
        &mount,
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    let out = c.ok(&["run", "--rm", "-v", &mount, "busybox", "cat", "/data/f"]);
    assert_eq!(out, "kept\n", "[{who}]");

    // In use: refused.
    let user = name("user");
    c.ok(&[
        "run", "-d", "--name", &user, "-v", &mount, "busybox", "sleep", "600",
    ]);
    fails_with(c, &["volume", "rm", &vol], "in use");
    c.ok(&["rm", "-f", &user]);
    let out = c.ok(&["volume", "rm", &vol]);
    assert_eq!(out.trim(), vol, "[{who}]");
    fails_with(c, &["volume", "inspect", &vol], "no such volume");

    // Prune -a removes unused named volumes.
    let unused = name("unused");
    c.ok(&["volume", "create", &unused]);
    let out = c.ok(&["volume", "prune", "-a", "-f"]);
    assert!(
        out.contains("Deleted Volumes:") && out.contains(&unused),
        "[{who}] prune:\n{out}"
    );
    assert!(
        out.contains("Total reclaimed space:"),
        "[{who}] prune:\n{out}"
    );
    assert!(!c.ok(&["volume", "ls", "-q"]).contains(&unused), "[{who}]");
    // Without -f, "no" keeps them.
    c.ok(&["volume", "create", &unused]);
    let args = ["volume", "prune", "-a"];
    let out = c.run_stdin(&args, b"n\n");
    assert!(out.status.success(), "{}", c.show(&args, &out));
    assert!(
        text(&out.stdout).contains("Are you sure you want to continue? [y/N]"),
        "{}",
        c.show(&args, &out)
    );
    assert!(c.ok(&["volume", "ls", "-q"]).contains(&unused), "[{who}]");
}

// ----------------------------------------------------------------- system

/// Scenario: system df's table, system info.
fn system_df_and_info(c: &Client) {
    let who = c.name();
    let df = c.ok(&["system", "df"]);
    let kinds: Vec<&str> = df
        .lines()
        .map(|l| l.split("  ").next().unwrap_or("").trim())
        .collect();
    assert_eq!(
        kinds,
        [
            "TYPE",
            "Images",
            "Containers",
            "Local Volumes",
            "Build Cache"
        ],
        "[{who}] system df:\n{df}"
    );
    let images = df.lines().nth(1).unwrap_or("");
    assert!(
        images.contains("(100%)"),
        "[{who}] no container uses busybox:\n{df}"
    );
    let out = c.ok(&["system", "df", "--format", "{{.Type}}={{.TotalCount}}"]);
    assert!(
        out.lines().any(|l| l == "Images=1"),
        "[{who}] df --format:\n{out}"
    );
    let out = c.ok(&["system", "df", "-v"]);
    assert!(out.contains("Images space usage:"), "[{who}] df -v:\n{out}");
    assert!(out.contains("busybox"), "[{who}] df -v:\n{out}");
    let info = c.ok(&["system", "info", "--format", "{{.Images}}"]);
    assert_eq!(info.trim(), "1", "[{who}]");
}

// ----------------------------------------------------------------- update

/// Scenario: update --memory/--pids-limit/--restart on a running
/// container; inspect shows them; no flags is refused.
fn update_resources(c: &Client) {
    let who = c.name();
    let ctr = sleeper(c);
    let out = c.ok(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--pids-limit",
        "50",
        "--restart",
        "on-failure:2",
        &ctr,
    ]);
    assert_eq!(out.trim(), ctr, "[{who}]");
    let got = c.inspect(
        "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}",
        &ctr,
    );
    assert_eq!(got, "67108864 50 on-failure", "[{who}]");
    c.ok(&["container", "update", "--cpus", "0.5", &ctr]);
    assert_eq!(
        c.inspect("{{.HostConfig.NanoCpus}}", &ctr),
        "500000000",
        "[{who}]"
    );
    fails(c, &["update", &ctr]);
    fails_with(
        c,
        &["update", "--memory", "64m", &name("nope")],
        "No such container",
    );
}

/// Scenario: `commit --change HEALTHCHECK ...` gives the image a probe
/// that containers run from it use; a bad HEALTHCHECK is refused.
fn commit_with_a_healthcheck(c: &Client) {
    let who = c.name();
    let src = sleeper(c);
    let image = format!("{}:hc", name("hc-image"));
    let change = "HEALTHCHECK --interval=1s --retries=2 CMD test -e /tmp/ok";
    c.ok(&["commit", "--change", change, &src, &image]);
    let test = c.ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Healthcheck.Test}}",
        &image,
    ]);
    assert_eq!(test.trim(), r#"["CMD-SHELL","test -e /tmp/ok"]"#, "[{who}]");

    let ctr = name("hc-run");
    c.ok(&[
        "run",
        "-d",
        "--name",
        &ctr,
        &image,
        "sh",
        "-c",
        "touch /tmp/ok; sleep 600",
    ]);
    poll(60, "the committed probe to pass", || {
        (c.inspect("{{.State.Health.Status}}", &ctr) == "healthy").then_some(())
    });

    let bad = "HEALTHCHECK --interval=soon CMD true";
    fails_with(
        c,
        &["commit", "--change", bad, &src, &image],
        "invalid duration",
    );
    c.ok(&["rm", "-f", &ctr, &src]);
    c.ok(&["rmi", &image]);
}

// ------------------------------------------------------- run flags

/// Scenario: `--mount` (a read-only bind), `--tmpfs` with a size and
/// `--ulimit` reach the container; bad values fail before anything runs.
fn run_mount_tmpfs_ulimit_flags(c: &Client) {
    let who = c.name();
    let dir = scratch();
    std::fs::write(dir.path().join("hello.txt"), "from-host\n").expect("write");
    let mount = format!("type=bind,src={},dst=/data,readonly", dir.path().display());
    let script = "cat /data/hello.txt; \
        touch /data/x 2>/dev/null && echo writable || echo read-only; \
        grep -w /scratch /proc/mounts | grep -o 'size=[0-9]*k'; \
        awk '/open files/ { print $4, $5 }' /proc/self/limits";
    let out = c.ok(&[
        "run",
        "--rm",
        "--mount",
        &mount,
        "--tmpfs",
        "/scratch:size=1m",
        "--ulimit",
        "nofile=100:200",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(
        out, "from-host\nread-only\nsize=1024k\n100 200\n",
        "[{who}]"
    );
    assert!(
        !dir.path().join("x").exists(),
        "[{who}] the bind was writable"
    );

    fails_with(
        c,
        &[
            "run",
            "--rm",
            "--mount",
            "type=bind,src=/tmp",
            "busybox",
            "true",
        ],
        "target is required",
    );
    fails_with(
        c,
        &[
            "run",
            "--rm",
            "--ulimit",
            "nofile=200:100",
            "busybox",
            "true",
        ],
        "soft limit must be less than or equal to hard limit",
    );
    let args = ["run", "--rm", "--ulimit", "bogus=1", "busybox", "true"];
    fails_with(c, &args, "invalid ulimit type: bogus");
}

/// Scenario: `--health-*` flags make a healthy container; `--log-opt`
/// lands in the log config; `--no-healthcheck` with a probe is refused.
fn run_health_and_log_flags(c: &Client) {
    let who = c.name();
    let ctr = shell(
        c,
        "healthy",
        &[
            "-d",
            "--health-cmd",
            "test -e /tmp/ready",
            "--health-interval",
            "1s",
            "--health-retries",
            "2",
            "--log-opt",
            "max-size=10k",
            "--log-opt",
            "max-file=2",
        ],
        "touch /tmp/ready; sleep 600",
    );
    let health = c.inspect("{{json .Config.Healthcheck}}", &ctr);
    for want in [
        r#""CMD-SHELL","test -e /tmp/ready""#,
        r#""Interval":1000000000"#,
        r#""Retries":2"#,
    ] {
        assert!(health.contains(want), "[{who}] want {want} in {health}");
    }
    let log = c.inspect("{{json .HostConfig.LogConfig}}", &ctr);
    assert!(
        log.contains(r#""max-size":"10k""#) && log.contains(r#""max-file":"2""#),
        "[{who}] {log}"
    );
    poll(60, "the container to become healthy", || {
        (c.inspect("{{.State.Health.Status}}", &ctr) == "healthy").then_some(())
    });
    c.ok(&["rm", "-f", &ctr]);

    let off = shell(c, "nohealth", &["-d", "--no-healthcheck"], "sleep 600");
    assert_eq!(
        c.inspect("{{json .Config.Healthcheck.Test}}", &off),
        r#"["NONE"]"#,
        "[{who}]"
    );
    c.ok(&["rm", "-f", &off]);
    fails_with(
        c,
        &[
            "run",
            "--rm",
            "--no-healthcheck",
            "--health-cmd",
            "true",
            "busybox",
            "true",
        ],
        "--no-healthcheck conflicts with --health-* options",
    );
}

// ----------------------------------------------------------------- search

/// Scenario: search a local registry's catalog.
fn search_a_local_registry(c: &Client) {
    let who = c.name();
    let reg = Registry::start().expect("registry");
    reg.push_oci_layout(&fixture().join("oci"), "latest", "busybox:latest")
        .expect("pushing the fixture");
    reg.push_oci_layout(&fixture().join("oci"), "latest", "tools/busyutils:latest")
        .expect("pushing the fixture again");
    let term = format!("{}/busy", reg.host());
    let args = ["search", term.as_str()];
    let out = c.ok_with(&args, || reg.log_tail());
    let o = text(&out.stdout);
    assert!(o.starts_with("NAME"), "[{who}] search:\n{o}");
    for repo in ["busybox", "tools/busyutils"] {
        let want = format!("{}/{repo}", reg.host());
        assert!(
            o.lines()
                .any(|l| l.split_whitespace().next() == Some(want.as_str())),
            "[{who}] search lacks {want}:\n{o}"
        );
    }
    let out = c.ok(&["search", "--limit", "1", "--format", "{{.Name}}", &term]);
    assert_eq!(out.lines().count(), 1, "[{who}] --limit 1:\n{out}");
}

// ----------------------------------------------------------------- attach

/// Scenario: attach to a running container: its output arrives, and the
/// attach exits with the container's status.
fn attach_to_a_running_container(c: &Client) {
    let who = c.name();
    let script = "while [ ! -e /stop ]; do echo tick; sleep 0.1; done; echo bye; exit 7";
    let ctr = shell(c, "ticker", &["-d"], script);
    let mut cmd = c.command(&["attach", "--no-stdin", &ctr]);
    let mut session = Session::spawn(&mut cmd);
    session.wait_for(b"tick", 60);
    c.ok(&["exec", &ctr, "touch", "/stop"]);
    let status = session.wait_exit(60);
    let out = session.output();
    assert_eq!(status.code(), Some(7), "[{who}] attach:\n{out}");
    assert!(out.contains("bye"), "[{who}] attach output:\n{out}");

    fails_with(
        c,
        &["attach", &ctr],
        "You cannot attach to a stopped container",
    );
}

// ------------------------------------------------------------ detach keys

/// Scenario: ctrl-p ctrl-q on `run -it` leaves the container running and
/// the client exits 0 quietly; on `attach` docker ends with "read escape
/// sequence" (exit 1); a custom sequence on `exec -it` works the same; a
/// false start is forwarded.
fn detach_keys_on_a_pty(c: &Client) {
    let who = c.name();
    let ctr = name("detached");
    let mut run = Session::on_pty(c, &["run", "-it", "--name", &ctr, "busybox", "sh"]);
    run.type_and_wait(b"echo $((6*7))\r", b"42");
    run.type_bytes(b"\x10\x11");
    let status = run.wait_exit(60);
    assert_eq!(status.code(), Some(0), "[{who}] run -it:\n{}", run.output());
    assert_eq!(c.inspect("{{.State.Running}}", &ctr), "true", "[{who}]");

    let mut attach = Session::on_pty(c, &["attach", &ctr]);
    attach.type_and_wait(b"echo $((7*8))\r", b"56");
    attach.type_bytes(b"\x10\x11");
    let status = attach.wait_exit(60);
    assert_eq!(
        status.code(),
        Some(1),
        "[{who}] attach:\n{}",
        attach.output()
    );
    assert!(
        attach.output().contains("read escape sequence"),
        "[{who}] {}",
        attach.output()
    );
    assert_eq!(c.inspect("{{.State.Running}}", &ctr), "true", "[{who}]");

    let mut exec = Session::on_pty(c, &["exec", "-it", "--detach-keys", "x,y", &ctr, "sh"]);
    // Each `x` starts the sequence and is held back; what follows is not
    // `y`, so it is forwarded after all: the shell prints x2x.
    exec.type_and_wait(b"echo x$((1+1))x\r", b"x2x");
    exec.type_bytes(b"xy");
    let status = exec.wait_exit(60);
    assert_eq!(status.code(), Some(1), "[{who}] exec:\n{}", exec.output());
    assert_eq!(c.inspect("{{.State.Running}}", &ctr), "true", "[{who}]");
    let ps = c.ok(&["ps", "--format", "{{.Names}}"]);
    assert!(ps.lines().any(|l| l == ctr), "[{who}] ps:\n{ps}");
}

/// Scenario: a --detach-keys value not in docker's format fails (berth
/// before creating the container, docker when the daemon refuses it).
fn bad_detach_keys(c: &Client) {
    let args = [
        "run",
        "-it",
        "--rm",
        "--detach-keys",
        "ctrl-1",
        "busybox",
        "true",
    ];
    let out = c.on_pty(&args, b"");
    assert!(
        !out.status.success(),
        "[{}] want a failure\n{}",
        c.name(),
        c.show(&args, &out)
    );
}

// ------------------------------------------------------- child sessions

/// A CLI process whose output is collected as it comes, for tests that
/// must react to it (type after the prompt, stop after the first line).
struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Session {
    /// Spawns `cmd` with piped stdin and stdout (stderr joins stdout).
    fn spawn(cmd: &mut Command) -> Session {
        let (reader, writer) = std::io::pipe().expect("pipe");
        let err = writer.try_clone().expect("dup pipe");
        cmd.stdin(Stdio::piped()).stdout(writer).stderr(err);
        let mut child = cmd.spawn().expect("spawning the CLI");
        // The parent's copies of the write end must go, or EOF never comes.
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let stdin = child.stdin.take();
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut reader = reader;
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Session { child, stdin, out }
    }

    /// The CLI on a fresh pty (like `Client::on_pty`), typed into as the
    /// test goes.
    fn on_pty(c: &Client, args: &[&str]) -> Session {
        let base = c.command(args);
        // `timeout -k 5 SECS CLI ARGS...`: keep CLI ARGS, and run it in
        // the pty's foreground group (see `Client::on_pty`).
        let words: Vec<String> = base
            .get_args()
            .skip(3)
            .map(|a| sh_quote(&a.to_string_lossy()))
            .collect();
        let line = format!("exec timeout --foreground -k 5 120 {}", words.join(" "));
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"])
            .env("SHELL", "/bin/sh");
        for (k, v) in base.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        Session::spawn(&mut cmd)
    }

    fn output(&self) -> String {
        text(&self.out.lock().unwrap())
    }

    fn type_bytes(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin.write_all(bytes).expect("typing");
        stdin.flush().expect("typing");
    }

    /// Waits until the output holds `needle` (bounded).
    fn wait_for(&mut self, needle: &[u8], secs: u64) {
        let what = format!("{:?} in the output", text(needle));
        poll(secs, &what, || {
            let out = self.out.lock().unwrap();
            out.windows(needle.len()).any(|w| w == needle).then_some(())
        });
    }

    /// Types a command line and waits for `needle` in what follows. Once
    /// the shell has answered, the CLI has the terminal in raw mode, so
    /// control keys typed after that reach it (before, the pty's line
    /// discipline would eat ctrl-q as XON).
    fn type_and_wait(&mut self, line: &[u8], needle: &[u8]) {
        let before = self.out.lock().unwrap().len();
        self.type_bytes(line);
        let what = format!("{:?} after typing {:?}", text(needle), text(line));
        poll(60, &what, || {
            let out = self.out.lock().unwrap();
            out[before..]
                .windows(needle.len())
                .any(|w| w == needle)
                .then_some(())
        });
    }

    /// Waits for the process to end (bounded; killed on expiry).
    fn wait_exit(&mut self, secs: u64) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the reader catch up with the last output.
                std::thread::sleep(Duration::from_millis(200));
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("still running after {secs}s:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
