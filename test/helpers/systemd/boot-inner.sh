#!/bin/sh
# The inside of a throw-away systemd machine (machine.ts): runs as PID 1 of
# fresh pid, mount, uts, ipc and cgroup namespaces, builds the machine's root
# and execs systemd in it. Nothing of the host changes: the root is an
# overlay of the host's `/` whose upper layer lives in "$1/layer", a tmpfs
# the host side mounted (so it survives one boot for the next); /proc/sys and
# /sys are read-only; /dev is private; /run and /tmp are fresh tmpfs.
# Written after ../shared/tools/boot-systemd.sh (its header lists the facts).
set -eu
dir=$1
root=$dir/root
read -r pid _ </proc/self/stat # the host's pid of this shell: the machine's systemd
echo "$pid" >"$dir/systemd.pid"
mount --make-rprivate /
mkdir -p "$dir/layer/upper" "$dir/layer/work" "$root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$dir/layer/upper,workdir=$dir/layer/work" "$root"
mount -t proc proc "$root/proc"
for p in sys sysrq-trigger; do
  [ -e "$root/proc/$p" ] || continue
  mount --bind "$root/proc/$p" "$root/proc/$p"
  mount -o remount,bind,ro "$root/proc/$p"
done
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
# The cgroup namespace is rooted at the cgroup the host side made for this machine.
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$root/sys/fs/cgroup"
mount -t tmpfs -o mode=755,nosuid dev "$root/dev"
for n in null zero full random urandom tty; do
  touch "$root/dev/$n"
  mount --bind "/dev/$n" "$root/dev/$n"
done
touch "$root/dev/console"
mount --bind "$dir/console.log" "$root/dev/console"
mkdir -p "$root/dev/pts" "$root/dev/shm" "$root/dev/mqueue"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm"
mount -t tmpfs -o mode=755,nosuid,nodev run "$root/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmp "$root/tmp"
mkdir -p "$root/run/systemd"
echo decnet-updater-test >"$root/run/systemd/container"
# The host's enabled units (nginx, postgres, apt's timers) stay off: their
# links go at the first boot, in the overlay only. What a test enables stays
# enabled at the next boot, which starts multi-user.target as a host would.
if [ ! -e "$dir/layer/prepared" ]; then
  rm -rf "$root"/etc/systemd/system/*.wants
  touch "$dir/layer/prepared"
fi
cd "$root"
mkdir -p .oldroot
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot
export container=decnet-updater-test
exec setpriv --bounding-set -sys_module,-sys_time,-sys_rawio,-mknod,-sys_resource -- \
  /lib/systemd/systemd --system --unit=multi-user.target --log-target=journal --show-status=no </dev/null
