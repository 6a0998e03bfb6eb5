#!/bin/busybox sh
# Stage 1, /init of the VM's initramfs (busybox only): load the modules,
# mount the host's root (9p, read-only) at /host with the guest's own proc,
# sys, dev, pure cgroup v2 and writable tmpfs mounts on top, then
# switch_root into it and run stage2.sh with the host's bash.
# Any failure prints BERTH-VM-EXIT=125 and powers off.

/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

fail() {
	echo "berth-vm init: error: $*"
	echo "BERTH-VM-EXIT=125"
	poweroff -f
	sleep 10
}

mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"

# shellcheck disable=SC2013 # one module name a line
for m in $(cat /etc/berth-vm/modules); do
	modprobe "$m" || fail "modprobe $m"
done

P9='trans=virtio,version=9p2000.L,msize=524288'
# The host's root is read-only for the whole run, so caching is safe and
# makes exec and reads far cheaper.
mount -t 9p -o "$P9,ro,cache=loose" hostroot /host || fail "mount the host root over 9p"
H=/host
mount -t tmpfs -o mode=0755 tmpfs $H/run || fail "tmpfs on /run"
mkdir -p $H/run/berth-vm/share
mount -t 9p -o "$P9,rw" share $H/run/berth-vm/share || fail "mount the share"
S=$H/run/berth-vm/share

date -s "@$(cat $S/clock)" >/dev/null

mount -t proc proc $H/proc || fail "proc"
mount -t sysfs sysfs $H/sys || fail "sysfs"
mount -t cgroup2 -o nsdelegate cgroup2 $H/sys/fs/cgroup || fail "cgroup2 on /sys/fs/cgroup"
# shellcheck disable=SC2013 # space-separated names
for c in $(cat $H/sys/fs/cgroup/cgroup.controllers); do
	echo "+$c" >$H/sys/fs/cgroup/cgroup.subtree_control || fail "enable $c in the root cgroup"
done
mount -t devtmpfs devtmpfs $H/dev || fail "devtmpfs"
mkdir -p $H/dev/pts $H/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts $H/dev/pts || fail "devpts"
ln -sf pts/ptmx $H/dev/ptmx 2>/dev/null
ln -sf /proc/self/fd $H/dev/fd
ln -sf /proc/self/fd/0 $H/dev/stdin
ln -sf /proc/self/fd/1 $H/dev/stdout
ln -sf /proc/self/fd/2 $H/dev/stderr
while IFS= read -r d; do
	[ "$d" = /run ] && continue
	[ -d "$H$d" ] || fail "--tmpfs $d: no such directory on the host"
	mount -t tmpfs -o mode=1777 tmpfs "$H$d" || fail "tmpfs on $d"
done <$S/tmpfs
if [ -d $H/sys/kernel/debug ]; then mount -t debugfs debugfs $H/sys/kernel/debug 2>/dev/null; fi
cp /bin/busybox /etc/berth-vm/stage2.sh $H/run/berth-vm/

umount /proc /sys
umount -l /dev
exec switch_root /host /run/berth-vm/busybox sh -c \
	'exec </dev/null >/dev/console 2>&1; exec /bin/bash /run/berth-vm/stage2.sh' ||
	fail "switch_root"
