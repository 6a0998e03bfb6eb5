#!/usr/bin/env python3
"""Container lifecycle benchmark driver for berth-runtime and its peers.

Called by runtime-bench.sh (see docs/benchmarks.md); stdlib only.

It behaves like containerd's shim: it is a child subreaper, so a container's
init is reparented to it once the runtime's `create` exits, and it reaps that
init itself. For each runtime and iteration it times

    RT --root STATE create --bundle B --pid-file P ID
    RT --root STATE start ID
    waitpid(init)                      # the container runs `true`
    RT --root STATE delete ID

as a whole and per phase, and separately `RT --root STATE run --bundle B ID`.
Runtimes are interleaved (round robin, rotating the order every iteration) so
that drift on the host hits them all alike. All runtimes use the same bundle
and the same config.json.

Peak RSS is measured in separate, untimed cycles through GNU time (`%M`, the
runtime's ru_maxrss as seen by its own parent). It cannot be taken from
os.wait4 on the runtime's pid here: Linux folds the RSS high-water mark of
the address space a process had before execve into its ru_maxrss, and a
child forked/vforked from this Python process starts out with Python's
memory, so every runtime would "peak" at about the driver's own ~14 MiB.

The Markdown report goes to stdout, progress to stderr.
"""

import argparse
import ctypes
import errno
import gc
import glob
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
CGROUP_PARENT = "berth-bench"
COMMAND_TIMEOUT_S = 30
GNU_TIME = "/usr/bin/time"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Timeout(Exception):
    pass


def _on_alarm(_signum, _frame):
    raise Timeout()


class Deadline:
    """Raise Timeout from a blocking wait after `seconds`."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        return False


class Failed(Exception):
    """A runtime command failed; the message is the first line of its error."""


def first_line(text):
    """The line of an error output worth reporting: the first error line.

    runc logs logrus lines (time=... level=warning msg=...) and may warn
    before it errs, so prefer the first level=error/fatal line, and only its
    msg (or error) field.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "level=error" in line or "level=fatal" in line:
            m = re.search(r'\b(?:msg|error)="((?:[^"\\]|\\.)*)"', line)
            return m.group(1).replace('\\"', '"') if m else line
    return lines[0] if lines else ""


class Runtime:
    def __init__(self, name, path, work):
        self.name = name
        self.path = path
        self.state = os.path.join(work, "state-" + name)
        self.errfile = os.path.join(work, "stderr-" + name)
        self.pidfile = os.path.join(work, "pid-" + name)
        os.makedirs(self.state)
        # Per sequence ("cycle": create+start+wait+delete, "run"): successes
        # (warm-up included), error messages, and "failed: ..." once given up.
        self.ok = {"cycle": 0, "run": 0}
        self.errors = {"cycle": [], "run": []}
        self.dead = {"cycle": None, "run": None}
        self.cycles = []  # (total, create, start, wait, delete) in ns
        self.runs = []  # ns
        self.rss = {}  # phase -> max KiB
        self.notes = []
        self.strays = 0  # processes other than the init reparented to us
        self.rss_wrap = None  # set by measure_rss: [GNU time ... -o FILE]
        self.rss_out = None
        if path:
            self.version = self._version()
        else:
            self.version = "not installed"
            for seq in self.dead:
                self.dead[seq] = "failed: %s is not installed" % name

    def _version(self):
        try:
            out = subprocess.run(
                [self.path, "--version"], capture_output=True, text=True, timeout=10
            ).stdout
        except OSError as e:
            return "?? (%s)" % e
        return first_line(out) or "??"

    def argv(self, *args):
        return [self.path, "--root", self.state, *args]

    def cmd(self, *args):
        """Run one runtime command; return its rusage. Raise Failed on error.

        stdin/stdout are /dev/null and stderr a file: for `create` they become
        the container's stdio, so they must not be pipes we wait on.
        """
        argv = self.argv(*args)
        if self.rss_wrap:
            argv = self.rss_wrap + argv
        with open(self.errfile, "w+b") as err:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
            )
            try:
                with Deadline(COMMAND_TIMEOUT_S):
                    _, status, rusage = os.wait4(proc.pid, 0)
            except Timeout:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise Failed("%s %s: timed out after %ss" % (self.name, args[0], COMMAND_TIMEOUT_S))
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                err.seek(0)
                msg = first_line(err.read().decode(errors="replace"))
                raise Failed(msg or "%s %s exited with %s" % (self.name, args[0], proc.returncode))
        if self.rss_wrap:
            self.rss[args[0]] = max(self.rss.get(args[0], 0), read_maxrss(self.rss_out))
        return rusage

    def read_pid(self):
        with open(self.pidfile) as f:
            return int(f.read().strip())


def reap_init(pid):
    """Wait for the container init, which must have been reparented to us."""
    try:
        with Deadline(COMMAND_TIMEOUT_S):
            _, status = os.waitpid(pid, 0)
    except Timeout:
        raise Failed("container init %d did not exit within %ss" % (pid, COMMAND_TIMEOUT_S))
    except ChildProcessError:
        raise Failed("container init %d is not our child (not reparented to the subreaper)" % pid)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise Failed("container `true` exited with %d" % code)


def reap_strays():
    """Reap any other zombie children (runtime helpers reparented to us)."""
    n = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return n
        if pid == 0:
            return n
        n += 1


def cgroup_dirs(token):
    """Our container cgroup, in every hierarchy where it exists."""
    pats = [
        "/sys/fs/cgroup/%s/%s" % (CGROUP_PARENT, token),
        "/sys/fs/cgroup/*/%s/%s" % (CGROUP_PARENT, token),
    ]
    return [d for p in pats for d in glob.glob(p) if os.path.isdir(d)]


def remove_cgroup_tree(path):
    """rmdir a cgroup and its children, killing anything still inside."""
    for dirpath, dirnames, _ in os.walk(path, topdown=False):
        procs = os.path.join(dirpath, "cgroup.procs")
        for _ in range(50):
            try:
                os.rmdir(dirpath)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
                try:
                    with open(procs) as f:
                        for pid in f.read().split():
                            try:
                                os.kill(int(pid), signal.SIGKILL)
                            except ProcessLookupError:
                                pass
                except FileNotFoundError:
                    pass
                reap_strays()
                time.sleep(0.02)
        else:
            log("warning: could not remove cgroup %s" % dirpath)


def cleanup_cgroups(token):
    left = cgroup_dirs(token)
    for d in left:
        remove_cgroup_tree(d)
    # The shared parent only goes if it is empty (another bench may use it).
    for parent in glob.glob("/sys/fs/cgroup/%s" % CGROUP_PARENT) + glob.glob(
        "/sys/fs/cgroup/*/%s" % CGROUP_PARENT
    ):
        try:
            os.rmdir(parent)
        except OSError:
            pass
    return left


def force_delete(rt, cid):
    try:
        subprocess.run(
            rt.argv("delete", "--force", cid),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=COMMAND_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired):
        pass


def after_failure(rt, cid, token, init_pid=None):
    force_delete(rt, cid)
    if init_pid is not None:
        try:
            os.kill(init_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            with Deadline(5):
                os.waitpid(init_pid, 0)
        except (ChildProcessError, Timeout):
            pass
    reap_strays()
    cleanup_cgroups(token)


def check_leak(rt, token, what):
    left = cgroup_dirs(token)
    if left:
        note = "%s left its cgroup behind after %s (%s)" % (rt.name, what, ", ".join(left))
        if note not in rt.notes:
            rt.notes.append(note)
        cleanup_cgroups(token)


def cycle(rt, cid, bundle, token):
    """create+start+wait+delete; return (total, create, start, wait, delete) ns
    and the rusage of each runtime command."""
    try:
        os.unlink(rt.pidfile)
    except FileNotFoundError:
        pass
    init_pid = None
    try:
        t0 = time.perf_counter_ns()
        ru_c = rt.cmd("create", "--bundle", bundle, "--pid-file", rt.pidfile, cid)
        t1 = time.perf_counter_ns()
        init_pid = rt.read_pid()
        t1b = time.perf_counter_ns()
        ru_s = rt.cmd("start", cid)
        t2 = time.perf_counter_ns()
        reap_init(init_pid)
        t3 = time.perf_counter_ns()
        init_pid = None
        ru_d = rt.cmd("delete", cid)
        t4 = time.perf_counter_ns()
    except (Failed, OSError, ValueError) as e:
        after_failure(rt, cid, token, init_pid)
        raise Failed(str(e)) from e
    rt.strays += reap_strays()
    check_leak(rt, token, "delete")
    # Reading the pid file is the shim's job, not the runtime's: not counted.
    total = (t4 - t0) - (t1b - t1)
    return (total, t1 - t0, t2 - t1b, t3 - t2, t4 - t3), (ru_c, ru_s, ru_d)


def run_once(rt, cid, bundle, token):
    try:
        t0 = time.perf_counter_ns()
        ru = rt.cmd("run", "--bundle", bundle, cid)
        t1 = time.perf_counter_ns()
    except (Failed, OSError) as e:
        after_failure(rt, cid, token)
        raise Failed(str(e)) from e
    rt.strays += reap_strays()
    check_leak(rt, token, "run")
    return t1 - t0, ru


def make_bundle(work, baseline, rootfs, token):
    """Bundle from `berth-runtime spec`, patched; shared by every runtime.

    root.path is the fixture's rootfs by absolute path: runc refuses a bundle
    whose rootfs is a symlink ("invalid rootfs: not an absolute path, or a
    symlink"), and an absolute path needs no bind mount to clean up.
    """
    bundle = os.path.join(work, "bundle")
    os.makedirs(bundle)
    subprocess.run([baseline.path, "spec"], cwd=bundle, check=True)
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["true"]
    spec["root"] = {"path": os.path.realpath(rootfs), "readonly": True}
    spec.setdefault("linux", {})["cgroupsPath"] = "/%s/%s" % (CGROUP_PARENT, token)
    with open(path, "w") as f:
        json.dump(spec, f, indent=2)
    return bundle


def cgroup_layout():
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "unified (cgroup v2 only)"
    mounts = {}
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[1].startswith("/sys/fs/cgroup"):
                mounts[fields[1]] = fields[2]
    v1 = sorted(os.path.basename(m) for m, t in mounts.items() if t == "cgroup")
    v2 = [m for m, t in mounts.items() if t == "cgroup2"]
    if v1 and v2:
        ctrl = ""
        try:
            with open(os.path.join(v2[0], "cgroup.controllers")) as f:
                ctrl = f.read().strip()
        except OSError:
            pass
        return "hybrid: v1 %s; v2 at %s (controllers: %s)" % (
            ",".join(v1),
            v2[0],
            ctrl or "none",
        )
    if v1:
        return "legacy (cgroup v1 only): " + ",".join(v1)
    return "no cgroup filesystem mounted"


def fs_type(path):
    """Filesystem type of path (the longest mount point that contains it)."""
    path = os.path.realpath(path)
    best, kind = "", "?"
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            mnt = fields[1].replace("\\040", " ")
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, kind = mnt, fields[2]
    return kind


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def ms(ns):
    return "%.2f" % (ns / 1e6)


def pcts(samples):
    """median, p10, p90 (ns)."""
    med = statistics.median(samples)
    if len(samples) >= 2:
        q = statistics.quantiles(samples, n=10, method="inclusive")
        return med, q[0], q[8]
    return med, med, med


def mib(kib):
    return "%.1f" % (kib / 1024)


def gnu_time_wrap(outfile):
    if not os.access(GNU_TIME, os.X_OK):
        return None
    return [GNU_TIME, "-f", "%M", "-o", outfile]


def read_maxrss(outfile):
    with open(outfile) as f:
        # GNU time writes "Command exited with non-zero status" first on error.
        return int(f.read().split()[-1])


def measure_rss(rt, bundle, token, runs, cid_prefix):
    """Untimed cycles through GNU time; record the max RSS per phase."""
    out = os.path.join(os.path.dirname(rt.errfile), "rss-" + rt.name)
    rt.rss_wrap = gnu_time_wrap(out)
    if rt.rss_wrap is None:
        return
    rt.rss_out = out
    try:
        for i in range(runs):
            if not rt.dead["cycle"]:
                cycle(rt, "%s-rss-%d" % (cid_prefix, i), bundle, token)
            if not rt.dead["run"]:
                run_once(rt, "%s-rssrun-%d" % (cid_prefix, i), bundle, token)
    finally:
        rt.rss_wrap = None


def spawn_floor(argv, n=50):
    """Median ms to Popen+wait4 a trivial command: the per-command floor."""
    xs = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _, status, _ = os.wait4(proc.pid, 0)
        xs.append(time.perf_counter_ns() - t0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return statistics.median(xs)


def rss_floor(work):
    """RSS that GNU time reports for /bin/true: the resolution of the RSS column."""
    out = os.path.join(work, "rss-floor")
    wrap = gnu_time_wrap(out)
    if wrap is None:
        return None
    subprocess.run(wrap + ["/bin/true"], check=True)
    return read_maxrss(out)


def git_revision(src):
    try:
        head = subprocess.run(
            ["git", "-C", src, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "--no-optional-locks", "-C", src, "status", "--porcelain", "-uno"],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return ""
    if not head:
        return ""
    return ", git %s%s" % (head, " + uncommitted changes" if dirty else "")


def report(rts, args, floor, spawn, started):
    base = rts[0]
    p = print
    p("## berth-runtime lifecycle benchmark")
    p()
    p("- date: %s" % started)
    p("- kernel: %s %s" % (platform.system(), platform.release()))
    p("- cgroups: %s" % cgroup_layout())
    p("- CPUs: %d x %s" % (os.cpu_count(), cpu_model()))
    p(
        "- load average (1, 5, 15 min) before: %s, after: %s "
        "(anything else running skews the numbers)" % args.load
    )
    for rt in rts:
        rev = git_revision(args.source) if rt is base and args.source else ""
        p("- %s: `%s`%s (%s)" % (rt.name, rt.version, rev, rt.path or "not found"))
    p("- python: %s" % platform.python_version())
    p(
        "- bundle and runtime state roots under %s (%s; set TMPDIR to move them)"
        % (os.path.dirname(os.path.realpath(args.work)), fs_type(args.work))
    )
    p(
        "- spawn floor (median ms to start and reap a command from the driver): %s"
        % "; ".join("`%s` %s" % (" ".join(os.path.basename(a) for a in argv), ms(t)) for argv, t in spawn)
    )
    p(
        "- %d measured iterations per runtime after %d warm-up, runtimes interleaved; "
        "container: busybox `true`, readonly rootfs, no terminal" % (args.runs, args.warmup)
    )
    p()
    p(
        "| runtime | sequence | median ms | p10 ms | p90 ms | vs %s (median) "
        "| create | start | wait | delete | peak RSS MiB |" % base.name
    )
    p("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    base_cycle = statistics.median(c[0] for c in base.cycles) if base.cycles else None
    base_run = statistics.median(base.runs) if base.runs else None

    def ratio(rt, med, base_med):
        if base_med is None:
            return "n/a"
        if rt is base:
            return "1.00x"
        return "%s/berth = %.2fx" % (rt.name, med / base_med)

    def rss_cell(phases):
        vals = [(kib, ph) for kib, ph in phases if kib is not None]
        if not vals:
            return "n/a"
        kib, ph = max(vals)
        return "%s (%s)" % (mib(kib), ph)

    empty = " | | | | | | | | |"
    for rt in rts:
        seq = "create+start+wait+delete"
        if rt.cycles:
            med, p10, p90 = pcts([c[0] for c in rt.cycles])
            phases = [statistics.median(c[i] for c in rt.cycles) for i in range(1, 5)]
            rss = rss_cell([(rt.rss.get(ph), ph) for ph in ("create", "start", "delete")])
            p(
                "| %s | %s | %s | %s | %s | %s | %s | %s |"
                % (
                    rt.name,
                    seq,
                    ms(med),
                    ms(p10),
                    ms(p90),
                    ratio(rt, med, base_cycle),
                    " | ".join(ms(x) for x in phases),
                    rss,
                )
            )
        else:
            p("| %s | %s | %s%s" % (rt.name, seq, rt.dead["cycle"] or "n/a", empty))
        if rt.runs:
            med, p10, p90 = pcts(rt.runs)
            p(
                "| %s | run | %s | %s | %s | %s | | | | | %s |"
                % (
                    rt.name,
                    ms(med),
                    ms(p10),
                    ms(p90),
                    ratio(rt, med, base_run),
                    rss_cell([(rt.rss.get("run"), "run")]),
                )
            )
        else:
            p("| %s | run | %s%s" % (rt.name, rt.dead["run"] or "n/a", empty))
    p()
    p(
        "Times are wall clock in ms from the driver (fork/exec of each runtime command "
        "included); phase columns are medians of each phase, so they need not add up to "
        "the total median. `wait` is from `start` returning to the container's init "
        "being reaped. Peak RSS is the largest ru_maxrss of any runtime command (phase "
        "in brackets), from %s untimed cycles through GNU time; %s."
        % (
            args.rss_runs,
            "`/bin/true` measures %s MiB the same way" % mib(floor)
            if floor is not None
            else "GNU time (/usr/bin/time) was not found, so it is n/a",
        )
    )
    p()
    if base_cycle is not None:
        verdict = []
        target = 10e6
        verdict.append(
            "%s median %s ms: %s the 10 ms target"
            % (base.name, ms(base_cycle), "meets" if base_cycle <= target else "MISSES")
        )
        for rt in rts[1:]:
            if rt.cycles:
                peer = statistics.median(c[0] for c in rt.cycles)
                verdict.append(
                    "%s than %s (%s ms)"
                    % ("faster" if base_cycle < peer else "NOT faster", rt.name, ms(peer))
                )
            else:
                verdict.append("%s did not run (%s)" % (rt.name, rt.dead["cycle"]))
        p("Verdict: " + "; ".join(verdict) + ".")
        p()
    notes = []
    for rt in rts:
        for seq, label in (("cycle", "create+start+wait+delete"), ("run", "run")):
            errs = rt.errors[seq]
            if errs and rt.ok[seq]:
                notes.append(
                    "%s: %d of %d %s attempts failed%s; first error: %s"
                    % (
                        rt.name,
                        len(errs),
                        len(errs) + rt.ok[seq],
                        label,
                        " (then gave up)" if rt.dead[seq] else "",
                        errs[0],
                    )
                )
        notes.extend(rt.notes)
        if rt.strays:
            notes.append("%s: %d extra processes were reparented to the driver and reaped" % (rt.name, rt.strays))
    for n in notes:
        p("- note: " + n)


MAX_FLAKES = 5


def give_up(rt, seq, err):
    """Record a failure; stop measuring `seq` if it never worked or keeps failing.

    A sequence that has worked before gets MAX_FLAKES more chances, so one
    transient failure does not throw away a whole run (the count is reported).
    """
    rt.errors[seq].append(str(err))
    n = len(rt.errors[seq])
    if rt.ok[seq] == 0:
        rt.dead[seq] = "failed: %s" % err
    elif n > MAX_FLAKES:
        rt.dead[seq] = "failed %d times, gave up after %d successes: %s" % (n, rt.ok[seq], err)
    else:
        log("%s %s failed (%d so far): %s" % (rt.name, seq, n, err))
        return
    log("%s %s %s" % (rt.name, seq, rt.dead[seq]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", required=True, help="empty scratch directory")
    ap.add_argument("--rootfs", required=True, help="busybox rootfs directory")
    ap.add_argument("--token", required=True, help="unique name for container ids and the cgroup")
    ap.add_argument(
        "--runtime",
        action="append",
        required=True,
        metavar="NAME=PATH",
        help="runtime to measure; the first one is the baseline for ratios",
    )
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rss-runs", type=int, default=5)
    ap.add_argument("--json", help="also write the raw samples (ns) here")
    ap.add_argument("--source", help="berth checkout, to report its git revision")
    args = ap.parse_args()

    if prctl_subreaper() != 0:
        sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed: %s" % os.strerror(ctypes.get_errno()))
    signal.signal(signal.SIGALRM, _on_alarm)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load_before = loadavg()

    rts = []
    for spec in args.runtime:
        name, _, path = spec.partition("=")
        rts.append(Runtime(name, path, args.work))
    bundle = make_bundle(args.work, rts[0], args.rootfs, args.token)

    def cid(rt, kind, i):
        return "%s-%s-%s%d" % (args.token, rt.name, kind, i)

    try:
        total = args.warmup + args.runs
        gc.disable()
        for i in range(total):
            warm = i < args.warmup
            # Rotate the order so no runtime always follows the same one.
            k = i % len(rts)
            for rt in rts[k:] + rts[:k]:
                if rt.dead["cycle"] and rt.dead["run"]:
                    continue
                try:
                    if not rt.dead["cycle"]:
                        times, _ = cycle(rt, cid(rt, "c", i), bundle, args.token)
                        rt.ok["cycle"] += 1
                        if not warm:
                            rt.cycles.append(times)
                except Failed as e:
                    give_up(rt, "cycle", e)
                if rt.dead["run"]:
                    continue
                try:
                    t, _ = run_once(rt, cid(rt, "r", i), bundle, args.token)
                    rt.ok["run"] += 1
                    if not warm:
                        rt.runs.append(t)
                except Failed as e:
                    give_up(rt, "run", e)
            gc.collect()
            if (i + 1) % 20 == 0 or i + 1 == args.warmup:
                log("%d/%d iterations" % (i + 1, total))
        gc.enable()
        for rt in rts:
            if not (rt.dead["cycle"] and rt.dead["run"]):
                try:
                    measure_rss(rt, bundle, args.token, args.rss_runs, cid(rt, "m", 0))
                except Failed as e:
                    rt.notes.append("%s: RSS measurement failed: %s" % (rt.name, e))
        floor = rss_floor(args.work)
        spawn = [(argv, spawn_floor(argv)) for argv in [["/bin/true"]] + [[rt.path, "--version"] for rt in rts if rt.path]]
    finally:
        cleanup(rts, args.token)

    args.load = (load_before, loadavg())
    report(rts, args, floor, spawn, started)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    rt.name: {
                        "version": rt.version,
                        "cycles": rt.cycles,
                        "runs": rt.runs,
                        "rss_kib": rt.rss,
                        "errors": rt.errors,
                        "failed": rt.dead,
                    }
                    for rt in rts
                },
                f,
                indent=1,
            )


def prctl_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def children():
    """Pids of our live children (runtime commands, reparented processes)."""
    me = str(os.getpid())
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[1] == me and fields[0] != "Z":
            kids.append(int(entry))
    return kids


def cleanup(rts, token):
    """Leave nothing behind, also after an interruption at any point.

    A runtime command may still be running (SIGTERM/Ctrl-C reached only us)
    and create a container after a first sweep, so sweep until no child of
    ours is alive and no cgroup of ours exists; SIGKILL what is left after
    10 s. Every container init is a child of ours (subreaper) or sits in our
    cgroup, so this finds them all.
    """
    deadline = time.monotonic() + 10
    removed = set()
    killed = False
    while True:
        for rt in rts:
            try:
                left = os.listdir(rt.state)
            except FileNotFoundError:
                left = []
            for name in left:
                if name.startswith(token):
                    log("cleanup: %s delete --force %s" % (rt.name, name))
                    force_delete(rt, name)
        removed.update(cleanup_cgroups(token))
        reap_strays()
        kids = children()
        if not kids and not cgroup_dirs(token):
            break
        if time.monotonic() > deadline:
            if killed:
                log("cleanup: giving up; still alive: %s, cgroups: %s" % (kids, cgroup_dirs(token)))
                break
            killed = True
            for pid in kids:
                log("cleanup: killing stuck child %d" % pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 5
        time.sleep(0.05)
    for rt in rts:
        shutil.rmtree(rt.state, ignore_errors=True)
    for d in sorted(removed):
        log("cleanup: removed leftover cgroup %s" % d)


def _on_term(_signum, _frame):
    sys.exit(143)  # SystemExit: the finally blocks clean up


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_term)
    try:
        main()
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
