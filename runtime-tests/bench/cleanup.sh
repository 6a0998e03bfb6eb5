# Cleanup helpers the benchmark scripts share (sourced, not run).

# Unmounts (lazily) every mount point at or under $1, deepest first.
umount_under() {
    local dir=$1
    for _ in 1 2 3 4 5; do
        local pts
        pts=$(awk -v p="$dir" '$5 == p || index($5, p "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r)
        [ -n "$pts" ] || return 0
        while read -r m; do umount -l "$m" 2>/dev/null || true; done <<<"$pts"
    done
}

# SIGKILLs the processes whose command line mentions $1 (not us).
kill_cmdline() {
    local needle=$1 p
    for p in $(pgrep -f -- "$needle" || true); do
        [ "$p" != $$ ] && [ "$p" != "$BASHPID" ] && kill -9 "$p" 2>/dev/null || true
    done
}

# SIGTERMs pid $1, waits up to 15 s, then SIGKILLs it and reaps it.
stop_pid() {
    local pid=$1
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
