#!/usr/bin/env bash
# cgroup2-vm.sh — run a command on a real cgroup-v2-only Linux kernel, from any Linux host
# (these CI machines have cgroup v1 only). Adapted for hatchery's CI from the project's shared
# tool of the same name: the approach (a stock Debian kernel in QEMU, the host's own `/` as a
# read-only 9p root with a tmpfs overlay, a busybox initramfs, cgroup2 mounted as systemd
# does) is that tool's; this copy lives in the repository so that `.ci/run` works on a clean
# clone.
#
# Boots the kernel (KVM when a stock kernel runs under it, else TCG software emulation: e.g.
# PVM nested virtualisation on cloud VMs cannot run a stock kernel) with
# `systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all`. The guest sees the host's gcc, perl,
# bash, util-linux and every build output, and can write anywhere without touching the host.
# cgroup2 is mounted at /sys/fs/cgroup (nsdelegate,memory_recursiveprot). Directories given
# with -w are shared read-write at the same path. The command's output streams to stdout and
# the script exits with the command's exit status (124 when the VM timed out, 125 when it did
# not report one).
#
# Usage: cgroup2-vm.sh [-k 6.1|6.12] [-m MEM_MiB] [-c CPUS] [-t TIMEOUT_S] [-a auto|kvm|tcg]
#                      [-w DIR]... [-d CWD] [-s] -- COMMAND [ARGS...]
#   -k  guest kernel: 6.1 (Debian 12 bookworm, linux-image-amd64) or 6.12 (Debian 13 trixie,
#       default; memory.peak is resettable per descriptor since 6.12)
#   -w  host directory to share read-write (same path in the guest); repeatable
#   -d  working directory in the guest (default: the current directory)
#   -s  boot the host's systemd as the guest's init (D-Bus, logind, user managers) and run
#       the command as a service once it is up (default: a bash PID 1, no systemd)
# Environment: V2VM_DIR (cache: kernels, initramfs, runs; default /tmp/v2vm/cache),
#   V2VM_QUIET_BOOT=1 hides the kernel log.
# Needs root (apt-get for qemu-system-x86, busybox-static, kmod; 9p passthrough of /).
# First run downloads ~180 MB (QEMU + one kernel); later runs reuse the cache.
set -euo pipefail

KVER=6.12 MEM=4096 CPUS=2 TIMEOUT=3000 ACCEL=auto CWD=$PWD SYSTEMD=0
RW=()
while getopts "k:m:c:t:a:w:d:sh" o; do
  case $o in
    k) KVER=$OPTARG ;; m) MEM=$OPTARG ;; c) CPUS=$OPTARG ;; t) TIMEOUT=$OPTARG ;;
    a) ACCEL=$OPTARG ;; w) RW+=("$(realpath "$OPTARG")") ;; d) CWD=$OPTARG ;; s) SYSTEMD=1 ;;
    h|*) sed -n '2,30p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "cgroup2-vm: no command (use -- COMMAND)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "cgroup2-vm: needs root" >&2; exit 2; }

D=${V2VM_DIR:-/tmp/v2vm/cache}
mkdir -p "$D"
T0=$(date +%s.%N)
log() { printf '[cgroup2-vm %6.1fs] %s\n' "$(echo "$(date +%s.%N) - $T0" | bc)" "$*" >&2; }

# --- 1. host tools -------------------------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx switch_root || need+=(busybox-static)
command -v depmod >/dev/null || need+=(kmod)
command -v cpio >/dev/null || need+=(cpio)
command -v bc >/dev/null || need+=(bc)
command -v xz >/dev/null || need+=(xz-utils)
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
if [ "$SYSTEMD" = 1 ]; then # the guest's init, its bus, logins through PAM and logind
  [ -x /lib/systemd/systemd ] || need+=(systemd)
  command -v dbus-daemon >/dev/null || need+=(dbus)
  ls /lib/*/security/pam_systemd.so /usr/lib/*/security/pam_systemd.so >/dev/null 2>&1 ||
    need+=(libpam-systemd)
  command -v useradd >/dev/null || need+=(passwd)
  command -v su >/dev/null || need+=(util-linux)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "[cgroup2-vm] installing ${need[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

# --- 2. guest kernel (Debian package, cached) -----------------------------------------------
case $KVER in
  6.1) SUITE=bookworm ;;
  6.12) SUITE=trixie ;;
  *) echo "cgroup2-vm: -k must be 6.1 or 6.12" >&2; exit 2 ;;
esac
K=$D/kernel-$SUITE
if [ ! -f "$K/ok" ]; then
  log "downloading the $SUITE kernel"
  A=$D/apt-$SUITE
  rm -rf "$K" "$A"; mkdir -p "$A"/state/lists/partial "$A"/cache/archives/partial "$K"
  cat > "$A/sources.list" <<EOF
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security $SUITE-security main
EOF
  cat > "$A/apt.conf" <<EOF
Dir::Etc::SourceList "$A/sources.list";
Dir::Etc::SourceParts "/nonexistent";
Dir::State "$A/state";
Dir::State::status "/var/lib/dpkg/status";
Dir::Cache "$A/cache";
APT::Architecture "amd64";
APT::Sandbox::User "root";
EOF
  export APT_CONFIG=$A/apt.conf
  apt-get update -qq >&2
  pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  (cd "$A" && apt-get download -qq "$pkg" >&2)
  dpkg-deb -x "$A"/"$pkg"_*.deb "$K/root"
  unset APT_CONFIG
  mb=$K/root; [ -d "$mb/usr/lib/modules" ] && mb=$K/root/usr
  ver=$(ls "$mb/lib/modules")
  depmod -b "$mb" "$ver"
  cp "$K"/root/boot/vmlinuz-* "$K/vmlinuz"
  echo "$ver" > "$K/ok"
  log "kernel $ver ready"
fi

# initramfs (rebuilt every run, well under a second): static busybox + the modules for
# 9p-over-virtio and overlayfs, and /init that mounts the host's / read-only with a tmpfs overlay
ver=$(cat "$K/ok")
mb=$K/root; [ -d "$mb/usr/lib/modules" ] && mb=$K/root/usr
I=$(mktemp -d "$D/initramfs.XXXXXX"); mkdir -p "$I"/{bin,mods,proc,sys,dev,ro,rw,newroot}
cp /bin/busybox "$I/bin/busybox"
for a in sh mount umount mkdir insmod switch_root echo cat sleep poweroff; do
  ln -sf busybox "$I/bin/$a"
done
modprobe -a -d "$mb" -S "$ver" --show-depends 9p 9pnet_virtio virtio_pci overlay virtio_rng \
  | awk '$1 == "insmod" && !s[$2]++ {print $2}' | while read -r m; do
    b=$(basename "$m"); b=${b%.xz}; b=${b%.zst}
    case $m in *.xz) xz -dc "$m" ;; *.zst) zstd -dcq "$m" ;; *) cat "$m" ;; esac > "$I/mods/$b"
    echo "$b" >> "$I/mods/order"
  done
cat > "$I/init" <<'EOF'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
for m in $(cat /mods/order); do insmod /mods/$m 2>/dev/null; done
o=9p2000.L,trans=virtio,msize=262144
mount -t 9p -o $o,ro,cache=loose,access=any hostroot /ro || { echo "v2vm: 9p root failed"; poweroff -f; }
mount -t tmpfs -o mode=755 tmpfs /rw && mkdir /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/ro,upperdir=/rw/upper,workdir=/rw/work /newroot \
|| { echo "v2vm: overlay failed"; poweroff -f; }
for a in $(cat /proc/cmdline); do case $a in v2vm.xfer=*) X=${a#v2vm.xfer=} ;; esac; done
mkdir -p /newroot$X && mount -t 9p -o $o,cache=none,access=any xfer /newroot$X
i=0
for a in $(cat /proc/cmdline); do case $a in v2vm.rw=*)
p=${a#v2vm.rw=}; mkdir -p /newroot$p && mount -t 9p -o $o,cache=none,access=any rw$i /newroot$p
i=$((i + 1)) ;; esac; done
mount --move /proc /newroot/proc; mount --move /sys /newroot/sys; mount --move /dev /newroot/dev
exec switch_root /newroot /bin/bash $X/stage2
EOF
chmod +x "$I/init"
(cd "$I" && find . | cpio -o -H newc --quiet | gzip -1) > "$K/initramfs.gz.$$"
mv "$K/initramfs.gz.$$" "$K/initramfs.gz"; rm -rf "$I"

# --- 3. one run -----------------------------------------------------------------------------
X=$(mktemp -d "$D/run.XXXXXX")
printf '%q ' "$@" > "$X/cmd"; echo >> "$X/cmd"
printf '%q' "$CWD" > "$X/cwd"
[ "$SYSTEMD" = 1 ] && touch "$X/systemd"
cat > "$X/stage2" <<'EOF'
# PID 1 of the guest (bash): mount the API filesystems and cgroup2, run the command, power off.
set +e
X=$(dirname "$0"); export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
if [ -f "$X/systemd" ]; then
  # systemd as PID 1 (it mounts /run, cgroup2 and the rest): a target with only what a login
  # needs (D-Bus, logind) and the command as a service, which powers the guest off.
  cat > /etc/systemd/system/v2vm.target <<UNIT
[Unit]
Description=cgroup2-vm command
Requires=basic.target dbus.socket systemd-logind.service v2vm.service
After=basic.target
AllowIsolate=yes
UNIT
  cat > /etc/systemd/system/v2vm.service <<UNIT
[Unit]
After=basic.target dbus.socket systemd-logind.service systemd-user-sessions.service
[Service]
Type=oneshot
ExecStart=/bin/bash $X/stage3
UNIT
  { echo "X=$X; export PATH=$PATH HOME=/root"
    echo 'echo 1 > /proc/sys/kernel/sysrq'
    echo 'echo "v2vm: systemd up $(cut -d" " -f1 /proc/uptime)s, $(uname -r)" > /dev/ttyS0'
    sed -n '/^cd /,$p' "$0"; } > "$X/stage3"
  # /tmp stays the host's (a checkout under /tmp must be reachable): no tmpfs over it, and
  # systemd-tmpfiles does not empty it at boot (tmp.conf's `D /tmp`; in the overlay only).
  ln -sf /dev/null /etc/systemd/system/tmp.mount
  mkdir -p /etc/tmpfiles.d && : > /etc/tmpfiles.d/tmp.conf
  exec /lib/systemd/systemd --unit=v2vm.target --show-status=false --log-level=warning
fi
mkdir -p /dev/pts /dev/shm /sys/fs/cgroup
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts; ln -sf pts/ptmx /dev/ptmx
ln -sf /proc/self/fd /dev/fd; ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout; ln -sf /proc/self/fd/2 /dev/stderr
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run; mkdir -p /run/lock /run/user; chmod 1777 /run/lock
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
hostname v2vm; ip link set lo up 2>/dev/null
echo 1 > /proc/sys/kernel/sysrq 2>/dev/null
echo "v2vm: up $(cut -d' ' -f1 /proc/uptime)s, $(uname -r), cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)" > /dev/ttyS0
cd "$(eval echo "$(cat $X/cwd)")" 2>/dev/null || cd /
START=$(cut -d' ' -f1 /proc/uptime)
bash -c "$(cat $X/cmd)" < /dev/null 2>&1 | tee $X/out > /dev/ttyS0
echo "${PIPESTATUS[0]}" > $X/rc.tmp && mv $X/rc.tmp $X/rc
echo "v2vm: command took $(echo "$(cut -d' ' -f1 /proc/uptime) - $START" | bc 2>/dev/null || echo ?)s" > /dev/ttyS0
sync
echo o > /proc/sysrq-trigger
sleep 10
EOF

if [ "$ACCEL" = auto ]; then
  # Probe once per host boot: boot the kernel with KVM to its first message. Stock kernels do
  # not run under every KVM flavour (e.g. PVM nested virtualisation on cloud VMs without VMX).
  P=$D/kvm-probe.$(cat /proc/sys/kernel/random/boot_id)-$SUITE
  if [ ! -f "$P" ]; then
    r=tcg
    if [ -w /dev/kvm ] && timeout 15 qemu-system-x86_64 -accel kvm -cpu host -M q35 -m 256 \
         -display none -no-reboot -serial stdio -monitor none -kernel "$K/vmlinuz" \
         -append "console=ttyS0 panic=-1 rdinit=/nonexistent" </dev/null 2>/dev/null \
         | grep -q -m1 'Linux version'; then
      r=kvm
    fi
    echo $r > "$P"
  fi
  ACCEL=$(cat "$P")
fi
case $ACCEL in
  kvm) accel=(-accel kvm -cpu host) ;;
  tcg) accel=(-accel tcg,thread=multi,tb-size=512 -cpu max) ;;
  *) echo "cgroup2-vm: -a must be auto, kvm or tcg" >&2; exit 2 ;;
esac
shares=(-fsdev local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap
        -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
        -fsdev local,id=xfer,path="$X",security_model=passthrough
        -device virtio-9p-pci,fsdev=xfer,mount_tag=xfer)
rwargs=""
for i in "${!RW[@]}"; do
  shares+=(-fsdev local,id=rw$i,path="${RW[$i]}",security_model=passthrough
           -device virtio-9p-pci,fsdev=rw$i,mount_tag=rw$i)
  rwargs+=" v2vm.rw=${RW[$i]}"
done
quiet=""; [ "${V2VM_QUIET_BOOT:-1}" = 1 ] && quiet="quiet loglevel=1"
log "booting $ver ($ACCEL, $CPUS CPUs, $MEM MiB)"
set +e
timeout "$TIMEOUT" qemu-system-x86_64 "${accel[@]}" -M q35 -smp "$CPUS" -m "$MEM" \
  -display none -no-reboot -monitor none -serial stdio -nodefaults \
  -device virtio-rng-pci \
  "${shares[@]}" \
  -kernel "$K/vmlinuz" -initrd "$K/initramfs.gz" \
  -append "console=ttyS0 $quiet panic=-1 rdinit=/init mitigations=off \
systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all v2vm.xfer=$X$rwargs" </dev/null
q=$?
set -e
log "VM exited (qemu status $q)"
if [ -f "$X/rc" ]; then rc=$(cat "$X/rc"); elif [ $q = 124 ]; then rc=124; else rc=125; fi
[ "${V2VM_KEEP:-0}" = 1 ] || rm -rf "$X"
exit "$rc"
