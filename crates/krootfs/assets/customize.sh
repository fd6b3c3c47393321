#!/bin/bash
# ktailor's mmdebstrap customize hook: turns a fresh minbase tree into a
# bootable, ssh-able guest.
#
# Usage: customize.sh ROOT INIT STAGE
#   ROOT   the chroot directory (mmdebstrap's "$1")
#   INIT   sysvinit | systemd
#   STAGE  directory holding the other hook files (ktailor-imds,
#          ktailor-imds.init, ktailor-imds.service)
#
# Runs on the host as (namespaced) root; every command that must see the
# guest's users, alternatives or init system runs under `chroot "$ROOT"`.
# This text is part of krootfs's cache key: any change rebuilds the rootfs.
set -euo pipefail

ROOT=${1:?chroot directory}
INIT=${2:?init system: sysvinit or systemd}
STAGE=${3:?directory with the hook files}

case "$INIT" in
sysvinit | systemd) ;;
*)
	echo "customize.sh: unknown init system '$INIT'" >&2
	exit 2
	;;
esac

say() { echo "I: ktailor customize: $*" >&2; }

# write PATH MODE: stdin to "$ROOT/PATH", owned by root.
write() {
	mkdir -p "$(dirname "$ROOT$1")"
	cat >"$ROOT$1"
	chown 0:0 "$ROOT$1"
	chmod "$2" "$ROOT$1"
}

say "user admin (passwordless sudo, no password), root locked"
chroot "$ROOT" useradd --create-home --shell /bin/bash --groups sudo \
	--comment "ktailor admin" admin
# '*' rather than useradd's '!': no password can match either, but sshd
# treats a '!' prefix as a locked account (and refuses even public keys)
# whenever UsePAM is off; '*' is never "locked", so key logins always work.
chroot "$ROOT" usermod --password '*' admin
chroot "$ROOT" passwd --lock root >/dev/null
write /etc/sudoers.d/90-admin 0440 <<'EOF'
# ktailor: the admin user may run anything as anyone, without a password.
admin ALL=(ALL:ALL) NOPASSWD: ALL
EOF
chroot "$ROOT" visudo --check --quiet --file=/etc/sudoers.d/90-admin
install -d -m 0700 "$ROOT/home/admin/.ssh"
chroot "$ROOT" chown admin:admin /home/admin/.ssh
if grep -q '\$' "$ROOT/etc/shadow"; then
	echo "customize.sh: a password hash is left in /etc/shadow" >&2
	exit 1
fi

say "sshd: keys only, no root login, no host keys"
write /etc/ssh/sshd_config.d/ktailor.conf 0644 <<'EOF'
# ktailor: log in as admin with an ssh key; no passwords, no root.
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
PubkeyAuthentication yes
EOF
# The postinst generated host keys; a cached tree must never carry them.
# The image step writes per-image keys (and ktailor-imds runs
# `ssh-keygen -A` before sshd as a fallback).
rm -f "$ROOT"/etc/ssh/ssh_host_*

say "identity: hostname ktailor, no machine-id, no host resolv.conf"
echo ktailor | write /etc/hostname 0644
write /etc/hosts 0644 <<'EOF'
127.0.0.1	localhost
127.0.1.1	ktailor
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF
write /etc/fstab 0644 <<'EOF'
# /etc/fstab: static file system information.
# ktailor: placeholder; the image step writes the entries (by UUID).
EOF
if [ "$INIT" = systemd ]; then
	# Empty (not absent): systemd generates one at first boot.
	: >"$ROOT/etc/machine-id"
else
	# Absent: dbus's init script makes one (dbus-uuidgen --ensure).
	rm -f "$ROOT/etc/machine-id"
fi
rm -f "$ROOT/var/lib/dbus/machine-id"
# mmdebstrap copies the build host's resolver; DHCP writes the guest's.
rm -f "$ROOT/etc/resolv.conf"

say "first-boot IMDS step (ssh key and hostname from EC2's metadata service)"
install -D -m 0755 "$STAGE/ktailor-imds" "$ROOT/usr/local/sbin/ktailor-imds"

if [ "$INIT" = sysvinit ]; then
	say "sysvinit: serial getty on ttyS0, DHCP via ifupdown"
	if ! grep -q '^T0:' "$ROOT/etc/inittab"; then
		cat >>"$ROOT/etc/inittab" <<'EOF'

# ktailor: a login prompt on the first serial port.
T0:2345:respawn:/sbin/getty -L ttyS0 115200 vt100
EOF
	fi
	write /etc/network/interfaces 0644 <<'EOF'
# interfaces(5) file used by ifup(8) and ifdown(8), written by ktailor.
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

# DHCP on the first interface whose name starts with "e" (eth0, ens3,
# enp0s2, ...) whatever its exact name: the pattern "/e*/1" picks the first
# match among the kernel's interfaces and "=net0" maps it to the logical
# interface below (interfaces(5), PATTERN MATCHING INTERFACES).
auto /e*/1=net0
iface net0 inet dhcp
EOF
	install -m 0755 "$STAGE/ktailor-imds.init" "$ROOT/etc/init.d/ktailor-imds"
	chroot "$ROOT" update-rc.d ktailor-imds defaults >/dev/null
else
	say "systemd: serial getty on ttyS0, DHCP via systemd-networkd"
	mkdir -p "$ROOT/etc/systemd/system/getty.target.wants"
	ln -sf /lib/systemd/system/serial-getty@.service \
		"$ROOT/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service"
	write /etc/systemd/network/20-dhcp.network 0644 <<'EOF'
# ktailor: DHCP on the wired interface, whatever its name.
[Match]
Name=en* eth*

[Network]
DHCP=yes
EOF
	# network-online.target waits for one link, not every link, and not for
	# the default two minutes: a guest without a NIC must still boot.
	write /etc/systemd/system/systemd-networkd-wait-online.service.d/ktailor.conf 0644 <<'EOF'
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=30
EOF
	install -m 0644 "$STAGE/ktailor-imds.service" \
		"$ROOT/etc/systemd/system/ktailor-imds.service"
	chroot "$ROOT" systemctl --quiet enable systemd-networkd.service \
		ktailor-imds.service
fi

say "dropping apt lists and caches"
rm -rf "$ROOT"/var/lib/apt/lists/*
rm -f "$ROOT"/var/cache/apt/*.bin
