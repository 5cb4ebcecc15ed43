"""ember on a real (not paravirtualized) KVM, even where this host has none:
QEMU emulates an AMD CPU with SVM in software (TCG, -cpu max), Debian's own
kernel boots in it and loads kvm-amd, and ember runs inside that VM.

It is slow hardware, but hardware-assisted virtualization as KVM sees it:
stock Linux boots under ember there, which a PVM host cannot do (see
DESIGN.md). All scenarios run in one boot of the outer VM; each test then
checks one scenario's exit status, serial output and stderr."""
import hashlib
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import time

import pytest

from debian import busybox_entries, cpio_newc, dirs, file, kernel_image, kernel_module
from emberlib import (API_CALL, EMBER, GUEST_BZIMAGE, GUEST_ELF, GUEST_NOPVH, VSOCK_PEER, VSOCK_PEER_LINES,
                      GuestRun, blk_image_after, check_blk_report, check_hostile_run, check_vsock_run,
                      make_disk)


QEMU = shutil.which("qemu-system-x86_64")
# The outer VM reports every scenario as it ends; none is silent this long.
# Silence this long is QEMU's emulated SVM hung (see below): boot it again.
SILENT_S = 240
BOOT_ATTEMPTS = 3
# All scenarios take about 6 minutes on the normal build, 8 on the sanitizer one.
OUTER_LIMIT_S = 1200

# Opt-in: QEMU 7.2's emulated SVM sometimes stops the outer VM dead (no
# output, not even its soft-lockup watchdog), in about one full run in six
# here; such a silent VM is booted again (BOOT_ATTEMPTS). scripts/test.sh
# (so CI) runs them all on the normal build and a few (EMBER_NESTED_ONLY) on
# the sanitizer build; scripts/test-nested.sh runs them all on its own.
pytestmark = pytest.mark.skipif(
    os.environ.get("EMBER_NESTED") != "1",
    reason="nested KVM under QEMU's emulated SVM is opt-in (it hangs intermittently, "
    "a QEMU TCG problem): run scripts/test-nested.sh or set EMBER_NESTED=1")
MODULES = ["irqbypass", "ccp", "kvm", "kvm-amd", "tun",  # in load order
           "vsock", "vmw_vsock_virtio_transport_common", "vhost_iotlb", "vhost",
           "vhost_vsock", "llc", "stp", "bridge"]
# What the Linux guest loads to use ember's devices (Debian builds them as modules).
LINUX_MODULES = ["virtio_ring", "virtio", "virtio_mmio", "virtio_blk", "virtio-rng", "crc16",
                 "mbcache", "jbd2", "crc32c_generic", "ext4", "failover", "net_failover",
                 "virtio_net", "virtio_console", "vsock", "vmw_vsock_virtio_transport_common",
                 "vmw_vsock_virtio_transport"]

# The Linux guest's init: report what it finds, then power off through ACPI.
# "phase=1" on its command line: write to the root disk (vda, ext4), read the
# read-only raw disk (vdb) and the entropy device; "phase=2": read back what
# phase 1 wrote, in a new VM; "phase=net": ping the outer VM through eth0;
# "phase=hvc": talk on the virtio console (hvc0); "phase=vsock": play the
# test guest's part of the vsock test (vsock-peer --guest).
LINUX_INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "EMBER-LINUX cpus=$(grep -c ^processor /proc/cpuinfo) kernel=$(uname -r)"
if grep -q phase= /proc/cmdline; then
	for m in {modules}; do insmod /mods/$m.ko || echo "EMBER-LINUX insmod $m failed"; done
fi
if grep -q phase=vsock /proc/cmdline; then
	mkdir -p /tmp
	/bin/vsock-peer --guest > /tmp/vsock.txt 2>&1
	rc=$?
	sed "s/^/EMBER-LINUX /" /tmp/vsock.txt
	echo "EMBER-LINUX vsock rc=$rc"
elif grep -q phase=stream /proc/cmdline; then
	# 100 lines to the host over ten seconds, through a failed migration.
	mkdir -p /tmp
	echo "EMBER-LINUX stream started"
	/bin/vsock-peer --guest-stream 100 5001 > /tmp/vsock.txt 2>&1
	rc=$?
	sed "s/^/EMBER-LINUX /" /tmp/vsock.txt
	echo "EMBER-LINUX stream rc=$rc"
elif grep -q phase=hvc /proc/cmdline; then
	# One open for everything: input that reached the tty is lost on its last close.
	exec 3<>/dev/hvc0
	echo "EMBER-LINUX hvc0 up" >&3
	stty -echo <&3
	read -t 60 -r line <&3
	echo "EMBER-LINUX got=$line" >&3
elif grep -q phase=net /proc/cmdline; then
	echo "EMBER-LINUX mac=$(cat /sys/class/net/eth0/address)"
	ip link set eth0 up && ip addr add 10.0.0.2/24 dev eth0
	mkdir -p /tmp && ping -c 3 -W 5 10.0.0.1 > /tmp/ping.txt && echo "EMBER-LINUX ping=ok"
	grep "packets transmitted" /tmp/ping.txt | sed "s/^/EMBER-LINUX /"
elif grep -q phase=peer /proc/cmdline; then
	# On emberd's network: ping the test guest in the other VM until it
	# answered the 3 echo requests it waits for (under TCG an early one can
	# be lost: its ARP entry, a slow first frame).
	mkdir -p /tmp
	ip link set eth0 up && ip addr add 10.77.0.3/24 dev eth0
	ok=0
	for i in $(seq 20); do
		ping -c 1 -W 3 10.77.0.2 >> /tmp/ping.txt && ok=$((ok + 1))
		[ $ok -ge 3 ] && break
	done
	[ $ok -ge 3 ] && echo "EMBER-LINUX peer-ping=ok"
	echo "EMBER-LINUX peer-replies=$ok of $i"
elif grep -q phase=snap /proc/cmdline; then
	# Snapshotted (and restored into a new ember) during the sleep: the
	# disk, the entropy device and the timers must work on afterwards.
	mkdir -p /mnt
	mount -t ext4 /dev/vda /mnt && echo "written before the snapshot" > /mnt/snap.txt && sync
	echo "EMBER-LINUX snap-ready"
	sleep 5
	echo 3 > /proc/sys/vm/drop_caches
	echo "EMBER-LINUX after=$(cat /mnt/snap.txt)"
	echo "EMBER-LINUX rng=$(dd if=/dev/hwrng bs=16 count=1 2>/dev/null | wc -c)"
	echo "EMBER-LINUX wrote=$(echo again > /mnt/again.txt && sync && cat /mnt/again.txt)"
	umount /mnt && echo "EMBER-LINUX unmounted"
elif grep -q phase= /proc/cmdline; then
	mkdir -p /mnt
	mount -t ext4 /dev/vda /mnt && echo "EMBER-LINUX mounted $(cat /mnt/hello.txt)"
	if grep -q phase=1 /proc/cmdline; then
		echo "written by the guest" > /mnt/from-guest.txt
		echo "EMBER-LINUX vdb=$(dd if=/dev/vdb bs=512 skip=8 count=8 2>/dev/null | md5sum)"
		echo "EMBER-LINUX vdb_ro=$(cat /sys/block/vdb/ro)"
		echo "EMBER-LINUX rng=$(dd if=/dev/hwrng bs=16 count=1 2>/dev/null | wc -c)"
		echo "EMBER-LINUX rng_name=$(cat /sys/class/misc/hw_random/rng_current)"
	else
		echo "EMBER-LINUX readback=$(cat /mnt/from-guest.txt)"
	fi
	umount /mnt && echo "EMBER-LINUX unmounted"
fi
poweroff -f
""".replace("{modules}", " ".join(LINUX_MODULES))

# The outer VM's init: load KVM, run every scenario, print what each did.
OUTER_INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
for m in {modules}; do insmod /mods/$m.ko || echo "NESTED-ERROR insmod $m"; done
[ -c /dev/kvm ] || echo "NESTED-ERROR no /dev/kvm"
cd /work
. /work/scenarios.sh
echo "NESTED-DONE"
poweroff -f
"""

SCENARIO = """echo {quoted} > /tmp/scenario.args
{runner} {name} /work/ember run {args}
"""

# Persistent taps (as `ip tuntap add` or emberd make them): migrations on this host hand
# them over. iproute2's ip by its path: busybox's shell prefers its own applet.
SCENARIO_FUNCS = """/bin/ip tuntap add dev tapP mode tap || echo "NESTED-ERROR tapP"
/bin/ip tuntap add dev tapF mode tap || echo "NESTED-ERROR tapF"
report() {
	echo "@@@ $1 rc=$2"; cat /tmp/$1.out; echo "@@@ $1 stderr"; cat /tmp/$1.err
	echo "@@@ $1 end"
}
run() {
	name=$1; shift
	timeout -s KILL 120 "$@" >/tmp/$name.out 2>/tmp/$name.err
	report $name $?
}
# A VM with --console virtio: its stdin is a FIFO, written once the guest
# said it is listening (input that reaches hvc0 before it is opened is lost).
run_console() {
	name=$1; shift
	mkfifo /tmp/$name.in
	timeout -s KILL 120 "$@" </tmp/$name.in >/tmp/$name.out 2>/tmp/$name.err &
	pid=$!
	exec 4>/tmp/$name.in
	for i in $(seq 600); do
		grep -q -e "hvc0 up" -e "READY virtio-console" /tmp/$name.out && break
		sleep 0.1
	done
	echo "hello hvc0" >&4
	wait $pid
	rc=$?
	exec 4>&-
	report $name $rc
}
# A VM with --net tap=tap0: ember creates the tap, this side gives it
# 10.0.0.1; with a test guest that answers pings, ping it once it is READY
# (the ping's output goes to the scenario's stderr section).
run_net() {
	name=$1; shift
	timeout -s KILL 120 "$@" >/tmp/$name.out 2>/tmp/$name.err &
	pid=$!
	for i in $(seq 100); do ip link show tap0 >/dev/null 2>&1 && break; sleep 0.1; done
	ip addr add 10.0.0.1/24 dev tap0 && ip link set tap0 up
	if grep -q test=virtio-net /tmp/scenario.args; then
		for i in $(seq 300); do grep -q "READY virtio-net" /tmp/$name.out && break; sleep 0.1; done
		ping -c 3 -W 5 10.0.0.2 > /tmp/$name.ping 2>&1
	fi
	wait $pid
	rc=$?
	[ -f /tmp/$name.ping ] && cat /tmp/$name.ping >> /tmp/$name.err
	report $name $rc
}
# A VM with --vsock: vsock-peer is the host side; its output and status go
# to the scenario's stderr section, after ember's.
run_vsock() {
	name=$1; shift
	if grep -q uds= /tmp/scenario.args; then
		/work/vsock-peer /tmp/v.sock > /tmp/$name.peer 2>&1 &
	else
		/work/vsock-peer --vsock 3 > /tmp/$name.peer 2>&1 &
	fi
	peer=$!
	timeout -s KILL 120 "$@" >/tmp/$name.out 2>/tmp/$name.err
	rc=$?
	[ $rc = 0 ] || kill $peer
	wait $peer

	echo "peer rc=$?" >> /tmp/$name.peer
	cat /tmp/$name.peer >> /tmp/$name.err
	report $name $rc
}
# The test guest booted through the API (ember --api-sock, api-call): each
# request's status, body and exit status go to $name.api, appended to the
# scenario's stderr section. ticker: paused and resumed while it counts;
# ctrl-alt-del: the keys are sent once it is READY.
api() {
	/work/api-call /tmp/api.sock "$@" >> /tmp/$name.api 2>&1
	echo "rc=$?" >> /tmp/$name.api
}
wait_out() {
	for i in $(seq 600); do grep -q "$1" /tmp/$name.out && return 0; sleep 0.1; done
	return 1
}
# The ticker paused, snapshotted, its ember killed; a second ember loads
# the snapshot and runs the guest on to its end: its output follows a
# "=== restored" line in the scenario's output.
snapshot_and_restore() {
	wait_out "${1:-TICK 5}"
	api PATCH /vm '{"state": "Paused"}'
	api PUT /snapshot/create '{"snapshot_type": "Full", "snapshot_path": "/tmp/vm.snap", "mem_file_path": "/tmp/vm.mem"}'
	kill -9 $pid; wait $pid
	echo "snapshot_bytes=$(stat -c %s /tmp/vm.snap) mem_blocks=$(stat -c %b /tmp/vm.mem)" >> /tmp/$name.api
	restore_from /tmp/vm.snap /tmp/vm.mem
}
# vhost-vsock: a snapshot taken once the guest listens is restored in a
# second ember (the CID comes free with the first), where vsock-peer then
# talks with the guest.
vhost_snapshot_and_restore() {
	wait_out "$1"
	api PATCH /vm '{"state": "Paused"}'
	api PUT /snapshot/create '{"snapshot_type": "Full", "snapshot_path": "/tmp/vm.snap", "mem_file_path": "/tmp/vm.mem"}'
	kill -9 $pid; wait $pid
	(sleep 2; /work/vsock-peer --vsock 3) > /tmp/$name.peer 2>&1 &
	peer=$!
	restore_from /tmp/vm.snap /tmp/vm.mem
	peer=
}
# A full snapshot at TICK 3, a diff one at TICK 8 (the VM tracks dirty
# pages), the diff's memory applied to the full one's with rebase-snap, and
# the diff snapshot restored in a second ember.
diff_snapshots() {
	wait_out "TICK 3"
	api PATCH /vm '{"state": "Paused"}'
	api PUT /snapshot/create '{"snapshot_type": "Full", "snapshot_path": "/tmp/base.snap", "mem_file_path": "/tmp/base.mem"}'
	api PATCH /vm '{"state": "Resumed"}'
	wait_out "TICK 8"
	api PATCH /vm '{"state": "Paused"}'
	api PUT /snapshot/create '{"snapshot_type": "Diff", "snapshot_path": "/tmp/diff.snap", "mem_file_path": "/tmp/diff.mem"}'
	kill -9 $pid; wait $pid
	echo "base_blocks=$(stat -c %b /tmp/base.mem) diff_blocks=$(stat -c %b /tmp/diff.mem)" >> /tmp/$name.api
	/work/ember rebase-snap --base-file /tmp/base.mem --diff-file /tmp/diff.mem >> /tmp/$name.api 2>&1
	echo "rebase rc=$?" >> /tmp/$name.api
	restore_from /tmp/diff.snap /tmp/base.mem
}
# A second ember runs the snapshot $1 (memory $2): its output follows a
# "=== restored" line in the scenario's output. $load_extra: more fields of
# the load request (then the restored VM's configuration is asked for too).
restore_from() {
	rm -f /tmp/api.sock
	/work/ember --api-sock /tmp/api.sock </dev/null >/tmp/$name.out2 2>>/tmp/$name.err &
	pid=$!
	(sleep 120; kill -9 $pid 2>/dev/null) &
	for i in $(seq 100); do [ -S /tmp/api.sock ] && break; sleep 0.1; done
	api PUT /snapshot/load "{\\"snapshot_path\\": \\"$1\\", \\"mem_backend\\": {\\"backend_type\\": \\"File\\", \\"backend_path\\": \\"$2\\"}, \\"resume_vm\\": true$load_extra}"
	api GET /
	[ -n "$load_extra" ] && api GET /vm/config
	load_extra=
	wait $pid
	rc=$?
	if [ -n "$peer" ]; then  # vsock-peer talked to the restored guest: its output last
		wait $peer
		echo "peer rc=$?" >> /tmp/$name.peer
		cat /tmp/$name.api /tmp/$name.peer > /tmp/$name.both; mv /tmp/$name.both /tmp/$name.api
	fi
	echo "=== restored" >> /tmp/$name.out
	cat /tmp/$name.out2 >> /tmp/$name.out
	cat /tmp/$name.api >> /tmp/$name.err
	report $name $rc
}
# The running guest moved to a second ember (listening on a Unix socket)
# once it printed $1; the sender's reply (stats) goes to the API log, the
# receiver's output follows a "=== migrated" line.
migrate_and_continue() {
	wait_out "$1"
	rm -f /tmp/api2.sock /tmp/mig.sock
	/work/ember --api-sock /tmp/api2.sock </dev/null >/tmp/$name.out2 2>>/tmp/$name.err &
	pid2=$!
	(sleep 300; kill -9 $pid2 2>/dev/null) &
	for i in $(seq 100); do [ -S /tmp/api2.sock ] && break; sleep 0.1; done
	/work/api-call /tmp/api2.sock PUT /ember/migration/receive "{\\"url\\": \\"unix:/tmp/mig.sock\\", \\"timeout_s\\": 60$recv_extra}" > /tmp/$name.recv 2>&1 &
	recv=$!
	for i in $(seq 100); do [ -S /tmp/mig.sock ] && break; sleep 0.1; done
	api PUT /ember/migration/send '{"url": "unix:/tmp/mig.sock"}'
	wait $recv
	echo "rc=$?" >> /tmp/$name.recv
	if [ -n "$peer_after" ]; then  # vsock-peer talks with the guest where it ran on
		/work/vsock-peer --vsock 3 > /tmp/$name.peer 2>&1
		echo "peer rc=$?" >> /tmp/$name.peer
	fi
	if [ -n "$recv_extra" ]; then  # the receiver's view of the VM
		/work/api-call /tmp/api2.sock GET /vm/config >> /tmp/$name.recv 2>&1
		echo "rc=$?" >> /tmp/$name.recv
		recv_extra=
	fi
	cat /tmp/$name.recv >> /tmp/$name.api
	wait $pid
	echo "source rc=$?" >> /tmp/$name.api
	wait $pid2
	rc=$?
	echo "=== migrated" >> /tmp/$name.out
	cat /tmp/$name.out2 >> /tmp/$name.out
	cat /tmp/$name.api >> /tmp/$name.err
	[ -n "$peer_after" ] && cat /tmp/$name.peer >> /tmp/$name.err
	peer_after=
	report $name $rc
}
# vhost-vsock, a migration that fails after the hand-over: the receiver
# cannot use vhost-vsock (/dev/null bound over it in its own mount
# namespace), so the sender opens a new vhost-vsock with the CID and gives
# it the rings; the guest, told of the reset, talks on with vsock-peer.
vhost_migrate_fail() {
	wait_out "$1"
	rm -f /tmp/api2.sock /tmp/mig.sock
	unshare -m sh -c 'mount --bind /dev/null /dev/vhost-vsock && exec /work/ember --api-sock /tmp/api2.sock' </dev/null >/dev/null 2>>/tmp/$name.err &
	pid2=$!
	for i in $(seq 100); do [ -S /tmp/api2.sock ] && break; sleep 0.1; done
	/work/api-call /tmp/api2.sock PUT /ember/migration/receive '{"url": "unix:/tmp/mig.sock", "timeout_s": 60}' > /tmp/$name.recv 2>&1 &
	recv=$!
	for i in $(seq 100); do [ -S /tmp/mig.sock ] && break; sleep 0.1; done
	api PUT /ember/migration/send '{"url": "unix:/tmp/mig.sock"}'
	wait $recv
	echo "rc=$?" >> /tmp/$name.recv
	cat /tmp/$name.recv >> /tmp/$name.api
	# The sender's tap, let go of at the hand-over, is the sender's again.
	echo "tapF held=$(grep -l "iff:[[:space:]]*tapF" /proc/$pid/fdinfo/* 2>/dev/null | wc -l)" >> /tmp/$name.api
	kill $pid2; wait $pid2
	/work/vsock-peer --vsock 3 > /tmp/$name.peer 2>&1
	echo "peer rc=$?" >> /tmp/$name.peer
	wait $pid
	rc=$?
	cat /tmp/$name.api /tmp/$name.peer >> /tmp/$name.err
	report $name $rc
}
# A migration whose receiver dies mid-stream (stopped, then killed): the
# source must carry on as if nothing happened. With $peer (a vsock-peer
# started before), its output comes last.
migrate_and_fail() {
	wait_out "$1"
	rm -f /tmp/api2.sock /tmp/mig.sock
	/work/ember --api-sock /tmp/api2.sock </dev/null >/dev/null 2>&1 &
	pid2=$!
	for i in $(seq 100); do [ -S /tmp/api2.sock ] && break; sleep 0.1; done
	/work/api-call /tmp/api2.sock PUT /ember/migration/receive '{"url": "unix:/tmp/mig.sock"}' >/dev/null 2>&1 &
	for i in $(seq 100); do [ -S /tmp/mig.sock ] && break; sleep 0.1; done
	kill -STOP $pid2
	api PUT /ember/migration/send '{"url": "unix:/tmp/mig.sock"}' &
	send=$!
	sleep 2
	kill -9 $pid2
	wait $send
	wait $pid
	rc=$?
	cat /tmp/$name.api >> /tmp/$name.err
	if [ -n "$peer" ]; then
		wait $peer
		echo "peer rc=$?" >> /tmp/$name.peer
		cat /tmp/$name.peer >> /tmp/$name.err
		peer=
	fi
	report $name $rc
}
# `ember run ... --api-sock`, snapshotted (SNAP) or migrated (MIGRATE,
# FAILMIGRATE) once the guest prints $marker.
run_snap() {
	name=$1; mode=$2; marker=$3; shift 3
	rm -f /tmp/api.sock
	: > /tmp/$name.err  # appended to: a receiver here writes to it too
	"$@" --api-sock /tmp/api.sock </dev/null >/tmp/$name.out 2>>/tmp/$name.err &
	pid=$!
	(sleep 300; kill -9 $pid 2>/dev/null) &
	case $mode in
	SNAP) snapshot_and_restore "$marker" ;;
	VHOSTSNAP) vhost_snapshot_and_restore "$marker" ;;
	VHOSTMIGRATE) peer_after=1; migrate_and_continue "$marker" ;;
	VHOSTFAIL) vhost_migrate_fail "$marker" ;;
	STREAMFAIL)  # the host end of the guest's stream listens before the guest boots
		/work/vsock-peer --count 100 5001 > /tmp/$name.peer 2>&1 &
		peer=$!
		migrate_and_fail "$marker" ;;
	MIGRATE) migrate_and_continue "$marker" ;;
	*) migrate_and_fail "$marker" ;;
	esac
}
# emberd and emberctl: each command's output and status follow a
# "### COMMAND" line in the scenario's output.
mgr() {
	echo "### $*" >> /tmp/manager.out
	/work/emberctl "$@" >> /tmp/manager.out 2>&1
	echo "rc=$?" >> /tmp/manager.out
}
mgr_def() {
	echo "{\\"name\\": \\"$1\\", \\"boot-source\\": {\\"kernel_image_path\\": \\"/work/guest.elf\\", \\"boot_args\\": \\"test=$2 exit=poweroff\\"}, \\"machine-config\\": {\\"vcpu_count\\": 1, \\"mem_size_mib\\": 64}}" > /tmp/mgr/$1.json
	mgr define /tmp/mgr/$1.json
}
mgr_daemon() {
	/work/emberd --state-dir /tmp/mgr/state --socket /tmp/mgr/d.sock --foreground >> /tmp/manager.err 2>&1 &
	dpid=$!
	for i in $(seq 100); do [ -S /tmp/mgr/d.sock ] && break; sleep 0.1; done
}
# Three seconds on the ticker's console (to FILE), then Ctrl-].
mgr_console() {
	echo "### $1" >> /tmp/manager.out
	(sleep 3; printf '\\035') | /work/emberctl console ticking > $2 2>&1
	echo "rc=$?" >> /tmp/manager.out
}
# The ticker's numbers in FILE, on one line.
mgr_ticks() {
	echo "### $1" >> /tmp/manager.out
	grep -o "^TICK [0-9]*" $2 | cut -d" " -f2 | tr "\\n" " " >> /tmp/manager.out
	echo >> /tmp/manager.out
}
run_manager() {
	name=manager
	mkdir -p /tmp/mgr
	export EMBER_SOCKET=/tmp/mgr/d.sock
	: > /tmp/manager.out
	mgr_daemon
	mgr host-check
	mgr_def ticking "ticker ticks=100000"
	mgr_def button power-button
	mgr_def echoer echo
	mgr start ticking
	mgr --json info ticking
	mgr suspend ticking
	mgr --json list
	mgr resume ticking
	mgr snapshot ticking s1
	mgr destroy ticking
	mgr restore ticking s1
	mgr_console "console ticking" /tmp/con.txt
	mgr_ticks "console ticks" /tmp/con.txt
	mgr --json list
	mgr start echoer
	kill $dpid; wait $dpid
	mgr_daemon
	mgr --json list --all
	mgr_console "console after restart" /tmp/con2.txt
	mgr_ticks "console ticks after restart" /tmp/con2.txt
	mgr_ticks "console.log ticks" /tmp/mgr/state/run/ticking/console.log
	# Typing reaches the guest too: the echo test answers, then ends at "quit".
	echo "### console echoer" >> /tmp/manager.out
	(sleep 2; echo "hello again"; sleep 2; echo quit
	 for i in $(seq 300); do /work/emberctl info echoer | grep -q "shut off" && break; sleep 0.1; done
	) | /work/emberctl console echoer >> /tmp/manager.out 2>&1
	echo "rc=$?" >> /tmp/manager.out
	kill -9 $(/work/emberctl --json info ticking | sed -n 's/.*"pid":\\([0-9]*\\).*/\\1/p')
	sleep 1
	mgr --json info ticking
	mgr start button
	sleep 3
	mgr shutdown button --timeout 60
	mgr start ticking
	mgr shutdown ticking --timeout 3
	mgr --json list --all
	kill $dpid; wait $dpid
	echo "### events" >> /tmp/manager.out
	cat /tmp/mgr/state/events.log >> /tmp/manager.out
	report manager 0
}
# Two VMs on emberd's network: Debian's kernel pings the test guest.
run_manager_net() {
	name=manager-net
	mkdir -p /tmp/mgrn
	export EMBER_SOCKET=/tmp/mgrn/d.sock
	: > /tmp/manager-net.out
	/work/emberd --state-dir /tmp/mgrn/state --socket /tmp/mgrn/d.sock --foreground >> /tmp/manager-net.err 2>&1 &
	dpid=$!
	for i in $(seq 100); do [ -S /tmp/mgrn/d.sock ] && break; sleep 0.1; done
	echo '{"name": "net0", "ipv4": "10.77.0.1/24"}' > /tmp/mgrn/net0.json
	echo '{"name": "answers", "network": "net0", "boot-source": {"kernel_image_path": "/work/guest.elf", "boot_args": "test=virtio-net net_ip=10.77.0.2 net_pings=3 net_wait_s=120 exit=poweroff"}, "machine-config": {"vcpu_count": 1, "mem_size_mib": 64}, "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tapA", "guest_mac": "06:00:ac:10:00:02"}]}' > /tmp/mgrn/answers.json
	echo '{"name": "pings", "network": "net0", "boot-source": {"kernel_image_path": "/work/bzImage", "initrd_path": "/work/linux.cpio", "boot_args": "console=ttyS0 rdinit=/init panic=-1 quiet phase=peer"}, "machine-config": {"vcpu_count": 2, "mem_size_mib": 256}, "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tapB", "guest_mac": "06:00:ac:10:00:03"}]}' > /tmp/mgrn/pings.json
	for f in net-define:net0 define:answers define:pings; do
		echo "### ${f%%:*} ${f#*:}" >> /tmp/manager-net.out
		/work/emberctl ${f%%:*} /tmp/mgrn/${f#*:}.json >> /tmp/manager-net.out 2>&1; echo "rc=$?" >> /tmp/manager-net.out
	done
	for c in "net-start net0" "start answers"; do
		echo "### $c" >> /tmp/manager-net.out; /work/emberctl $c >> /tmp/manager-net.out 2>&1; echo "rc=$?" >> /tmp/manager-net.out
	done
	for i in $(seq 600); do grep -q "READY virtio-net" /tmp/mgrn/state/run/answers/console.log && break; sleep 0.1; done
	echo "### start pings" >> /tmp/manager-net.out; /work/emberctl start pings >> /tmp/manager-net.out 2>&1; echo "rc=$?" >> /tmp/manager-net.out
	echo "### net-info net0" >> /tmp/manager-net.out; /work/emberctl --json net-info net0 >> /tmp/manager-net.out 2>&1; echo "rc=$?" >> /tmp/manager-net.out
	for i in $(seq 1200); do /work/emberctl info pings | grep -q "shut off" && break; sleep 0.1; done
	for i in $(seq 300); do /work/emberctl info answers | grep -q "shut off" && break; sleep 0.1; done
	echo "### consoles" >> /tmp/manager-net.out
	cat /tmp/mgrn/state/run/answers/console.log /tmp/mgrn/state/run/pings/console.log >> /tmp/manager-net.out
	echo "### net-destroy net0" >> /tmp/manager-net.out; /work/emberctl net-destroy net0 >> /tmp/manager-net.out 2>&1; echo "rc=$?" >> /tmp/manager-net.out
	kill $dpid; wait $dpid
	report manager-net 0
}
# A VM moved between two emberds (one host, two state directories): start
# --incoming on b, migrate on a; the ticker counts on in b's ember.
mgm() {
	side=$1; shift
	echo "### $side $*" >> /tmp/$name.out
	EMBER_SOCKET=/tmp/mg$side/d.sock /work/emberctl "$@" >> /tmp/$name.out 2>&1
	echo "rc=$?" >> /tmp/$name.out
}
run_manager_migrate() {
	name=manager-migrate
	: > /tmp/$name.out
	for side in a b; do
		mkdir -p /tmp/mg$side
		/work/emberd --state-dir /tmp/mg$side/state --socket /tmp/mg$side/d.sock --foreground >> /tmp/$name.err 2>&1 &
		eval d$side=\\$!
	done
	for i in $(seq 100); do [ -S /tmp/mga/d.sock ] && [ -S /tmp/mgb/d.sock ] && break; sleep 0.1; done
	# Its vsock: b's definition puts it on another path (the receive request's override).
	echo '{"name": "mover", "boot-source": {"kernel_image_path": "/work/guest.elf", "boot_args": "test=ticker ticks=60 exit=poweroff"}, "machine-config": {"vcpu_count": 1, "mem_size_mib": 64}, "vsock": {"guest_cid": 3, "uds_path": "/tmp/mgv.sock"}}' > /tmp/mga/mover.json
	mgm a define /tmp/mga/mover.json
	sed s/mgv.sock/mgv-b.sock/ /tmp/mga/mover.json > /tmp/mgb/mover.json
	mgm b define /tmp/mgb/mover.json
	mgm a start mover
	for i in $(seq 600); do grep -q "^TICK 5" /tmp/mga/state/run/mover/console.log && break; sleep 0.1; done
	EMBER_SOCKET=/tmp/mgb/d.sock /work/emberctl --json start mover --incoming unix:/tmp/mgm.sock --timeout 120 > /tmp/mgm.in 2>&1 &
	inc=$!
	for i in $(seq 100); do [ -S /tmp/mgm.sock ] && break; sleep 0.1; done
	mgm b --json info mover
	mgm a migrate mover unix:/tmp/mgm.sock --verbose
	wait $inc
	rc=$?
	{ echo "### incoming"; cat /tmp/mgm.in; echo "rc=$rc"; } >> /tmp/$name.out
	{ echo "### vsock sockets"; ls /tmp/mgv.sock /tmp/mgv-b.sock 2>&1; } >> /tmp/$name.out
	for i in $(seq 1200); do EMBER_SOCKET=/tmp/mgb/d.sock /work/emberctl info mover | grep -q "shut off" && break; sleep 0.1; done
	mgm a --json list --all
	mgm b --json list --all
	for side in a b; do
		echo "### console $side" >> /tmp/$name.out
		cat /tmp/mg$side/state/run/mover/console.log >> /tmp/$name.out
		echo "### events $side" >> /tmp/$name.out
		cat /tmp/mg$side/state/events.log >> /tmp/$name.out
	done
	kill $da $db; wait $da $db
	report $name 0
}
# A VM under ember-jailer (uid 1000 in its own root): boots, saved,
# destroyed, restored in a fresh jail. pivot_root cannot leave the
# initramfs, so emberd runs in a mount namespace whose / is a bind mount
# of it, as / is a disk on other hosts.
run_manager_jail() {
	name=manager-jail
	: > /tmp/$name.out
	mkdir -p /tmp/mgj
	unshare -m sh -c 'mkdir -p /jroot && mount --rbind / /jroot && cd /jroot && mount --move . / && exec chroot . /work/emberd --state-dir /tmp/mgj/state --socket /tmp/mgj/d.sock --foreground' >> /tmp/$name.err 2>&1 &
	dj=$!
	for i in $(seq 100); do [ -S /tmp/mgj/d.sock ] && break; sleep 0.1; done
	echo '{"name": "caged", "jail": {"uid": 1000, "gid": 1000}, "boot-source": {"kernel_image_path": "/work/guest.elf", "boot_args": "test=ticker ticks=100000 exit=poweroff"}, "machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}' > /tmp/mgj/caged.json
	mgm j define /tmp/mgj/caged.json
	mgm j start caged
	con=/tmp/mgj/state/run/caged/console.log
	for i in $(seq 600); do grep -q "^TICK 5" $con && break; sleep 0.1; done
	mgm j --json info caged
	pid=$(EMBER_SOCKET=/tmp/mgj/d.sock /work/emberctl --json info caged | sed -n 's/.*"pid":\\([0-9]*\\).*/\\1/p')
	{ echo "### status"; echo "pid $pid"; grep -E "^(Uid|Gid|NoNewPrivs|Seccomp):" /proc/$pid/status 2>&1; ls /tmp/mgj/state/jail/ember/caged/root; echo "rc=0"; } >> /tmp/$name.out
	mgm j snapshot caged s1
	mgm j destroy caged
	{ echo "### console before"; cat $con; } >> /tmp/$name.out
	mgm j restore caged s1
	for i in $(seq 600); do [ $(grep -c "^TICK" $con) -ge 5 ] && break; sleep 0.1; done
	# On to a second emberd's jail over TCP (a jailed ember sees no host Unix socket).
	ip link set lo up
	mkdir -p /tmp/mgk
	unshare -m sh -c 'mkdir -p /jroot && mount --rbind / /jroot && cd /jroot && mount --move . / && exec chroot . /work/emberd --state-dir /tmp/mgk/state --socket /tmp/mgk/d.sock --foreground' >> /tmp/$name.err 2>&1 &
	dk=$!
	for i in $(seq 100); do [ -S /tmp/mgk/d.sock ] && break; sleep 0.1; done
	mgm k define /tmp/mgj/caged.json
	EMBER_SOCKET=/tmp/mgk/d.sock /work/emberctl start caged --incoming tcp:127.0.0.1:4444 --timeout 60 > /tmp/mgk.in 2>&1 &
	inc=$!
	for i in $(seq 100); do EMBER_SOCKET=/tmp/mgk/d.sock /work/emberctl info caged | grep -q listening && break; sleep 0.1; done
	mgm j migrate caged tcp:127.0.0.1:4444
	wait $inc
	rc=$?
	{ echo "### incoming"; cat /tmp/mgk.in; echo "rc=$rc"; } >> /tmp/$name.out
	con2=/tmp/mgk/state/run/caged/console.log
	for i in $(seq 600); do [ $(grep -c "^TICK" $con2) -ge 5 ] && break; sleep 0.1; done
	mgm k destroy caged
	{ echo "### console after"; cat $con; echo "### console moved"; cat $con2; echo "### jails"; ls /tmp/mgj/state/jail/ember /tmp/mgk/state/jail/ember; echo "### events"; cat /tmp/mgj/state/events.log; } >> /tmp/$name.out
	kill $dj $dk; wait $dj $dk
	report $name 0
}
run_api() {
	name=$1; tests=$2
	rm -f /tmp/api.sock
	/work/ember --api-sock /tmp/api.sock </dev/null >/tmp/$name.out 2>/tmp/$name.err &
	pid=$!
	(sleep 120; kill -9 $pid 2>/dev/null) &
	for i in $(seq 100); do [ -S /tmp/api.sock ] && break; sleep 0.1; done
	api GET /
	api PUT /boot-source "{\\"kernel_image_path\\": \\"/work/guest.elf\\", \\"boot_args\\": \\"test=$tests exit=poweroff\\"}"
	mc='"vcpu_count": 1, "mem_size_mib": 64'
	[ $name = api-diff ] && mc="$mc, \\"track_dirty_pages\\": true"
	api PUT /machine-config "{$mc}"
	api PUT /entropy '{}'
	case $name in
	api-snapshot) api PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "tapS0"}' ;;
	api-migrate) api PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "tapM0"}' ;;
	esac
	api PUT /actions '{"action_type": "InstanceStart"}'
	# Every thread's seccomp mode once the VM runs: main, vCPU, device, API.
	for t in /proc/$pid/task/*; do
		echo "seccomp $(cat $t/comm) $(grep Seccomp: $t/status | cut -f2)" >> /tmp/$name.api
	done
	case $name:$tests in
	api-snapshot:*)
		# Restored onto another tap (Firecracker's network_overrides).
		load_extra=', "network_overrides": [{"iface_id": "eth0", "host_dev_name": "tapS1"}]'
		snapshot_and_restore
		return
		;;
	api-diff:*)
		diff_snapshots
		return
		;;
	api-migrate:*)
		# The receiver, on this host, puts the VM on another tap.
		recv_extra=', "network_overrides": [{"iface_id": "eth0", "host_dev_name": "tapM1"}]'
		migrate_and_continue "TICK 5"
		return
		;;
	*:ticker*)
		wait_out "TICK 3"
		api PATCH /vm '{"state": "Paused"}'
		api GET /
		a=$(grep -c TICK /tmp/$name.out); sleep 2; b=$(grep -c TICK /tmp/$name.out)
		echo "paused_ticks=$a,$b" >> /tmp/$name.api
		api PATCH /vm '{"state": "Resumed"}'
		;;
	*:ctrl-alt-del)
		wait_out "READY ctrl-alt-del"
		api PUT /actions '{"action_type": "SendCtrlAltDel"}'
		;;
	*:power-button)
		wait_out "READY power-button"
		api PUT /ember/power-button '{}'
		;;
	esac
	wait $pid
	rc=$?
	cat /tmp/$name.api >> /tmp/$name.err
	report $name $rc
}
"""


def guest(tests, exit="reset", kernel="guest.elf", extra=""):
    return f"--kernel /work/{kernel} --memory 64 --cmdline 'test={tests} exit={exit}' {extra}"


def linux(extra_cmdline="", extra=""):
    return ("--kernel /work/bzImage --initrd /work/linux.cpio --cpus 2 --memory 256 "
            f"--cmdline 'console=ttyS0 rdinit=/init panic=-1 quiet {extra_cmdline}' {extra}")


def scenarios():
    """name -> arguments of `ember run` inside the outer VM."""
    return {
        "linux": linux(),
        "linux-virtio-1": linux("phase=1", "--disk root.img --disk raw.img,readonly --rng"),
        "linux-virtio-2": linux("phase=2", "--disk root.img"),
        "linux-hvc": linux("phase=hvc", "--console virtio --serial none"),
        "console": guest("virtio-console", extra="--console virtio --serial file=/tmp/c.txt"),
        "linux-net": linux("phase=net", "--net tap=tap0,mac=06:00:ac:10:00:02"),
        "net": guest("virtio-net net_ip=10.0.0.2 net_pings=3",
                     extra="--net tap=tap0,mac=06:00:ac:10:00:02"),
        "pvh": guest("hello,serial,cmdline,rtc", exit="poweroff"),
        "boot-timer": guest("boot-timer", exit="poweroff", extra="--boot-timer --log-level info"),
        "elf64": guest("hello,cmdline", kernel="guest-nopvh.elf"),
        "bzimage": guest("hello,cmdline", kernel="guest.bzImage"),
        "smp": guest("smp", exit="poweroff", extra="--cpus 4"),
        "rng": guest("virtio-rng", extra="--rng"),
        "vsock": guest("virtio-vsock", extra="--vsock cid=3,uds=/tmp/v.sock"),
        "api-ticker": "API ticker ticks=30",
        "api-cad": "API ctrl-alt-del",
        "api-pwrbtn": "API power-button",
        "api-snapshot": "API ticker ticks=40",
        "api-migrate": "API ticker ticks=40",
        "api-diff": "API ticker ticks=40",
        "manager": "MANAGER",
        "manager-net": "MANAGER-NET",
        "manager-migrate": "MANAGER-MIGRATE",
        "manager-jail": "MANAGER-JAIL",
        # Last: it changes root.img, which the linux-virtio scenarios check.
        "linux-snapshot": "SNAP snap-ready " + linux("phase=snap", "--disk root.img --rng "
                                                     "--vsock cid=3,uds=/tmp/snap-v.sock"),
        # Its vsock socket path moves with it: the receiver, on this host, takes it over.
        "linux-migrate": "MIGRATE snap-ready " + linux("phase=snap", "--disk root.img --rng "
                                                       "--vsock cid=3,uds=/tmp/lm.sock"),
        "linux-migrate-fail": "FAILMIGRATE snap-ready " + linux("phase=snap",
                                                                "--disk root.img --rng"),
        "vhost-vsock": guest("virtio-vsock", extra="--vsock cid=3"),
        "vhost-snapshot": "VHOSTSNAP READY " + guest("virtio-vsock", extra="--vsock cid=3"),
        "vhost-migrate": "VHOSTMIGRATE READY " + guest("virtio-vsock", extra="--vsock cid=3"),
        "vhost-migrate-fail": "VHOSTFAIL READY " + guest("virtio-vsock",
                                                         extra="--net tap=tapF --vsock cid=3"),
        # Onto the same (persistent) tap on this host: the sender lets go of it.
        "tap-migrate": "MIGRATE TICK.5 " + guest("ticker ticks=40",
                                                 extra="--net tap=tapP,mac=06:00:ac:10:00:02"),
        "linux-vsock": linux("phase=vsock", "--vsock cid=3,uds=/tmp/v.sock"),
        "linux-vhost-vsock": linux("phase=vsock", "--vsock cid=3"),
        # The kernel's worker, held through a migration that fails, must find what
        # Linux queued meanwhile (it drops kicks while stopped).
        "linux-vhost-stream": "STREAMFAIL stream.started " + linux("phase=stream",
                                                                   "--vsock cid=3"),
        "blk": guest("virtio-blk", extra="--disk d0.img,serial=ember-d0 --disk d1.img,readonly"),
        "badchain": guest("virtio-bad-chain,hello", extra="--rng"),
        "hostile": guest("hostile,hello", extra="--rng --disk h0.img --disk h1.img,readonly "
                         "--net tap=tap0 --vsock cid=3,uds=/tmp/hostile.vsock"),
        "order": guest("cmdline", extra="--disk a.img --rng --disk b.img,readonly"),
        # bench/io.py's guest side, tiny: it runs, it does not measure.
        "bench-io": guest("bench-blk,bench-net blk_ops=2000 blk_mib=4 net_frames=2000",
                          extra="--disk bench.img --net tap=tap0,mac=06:00:ac:10:00:02"),
        "nodisk": "--kernel /work/guest.elf --disk /work/nope.img",
    }


def selected(name):
    """EMBER_NESTED_ONLY=a,b runs only those scenarios (to iterate on one quickly)."""
    only = os.environ.get("EMBER_NESTED_ONLY")
    return not only or name in only.split(",")


def runner(args):
    """The shell function that runs a scenario with these ember arguments."""
    if "--net" in args:
        return "run_net"
    if "--vsock" in args:
        return "run_vsock"
    return "run_console" if "--console virtio" in args else "run"


def shared_libraries(binary):
    """The loader and libraries `binary` needs, from ldd."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    return [pathlib.Path(p) for p in re.findall(r"(/\S+) \(0x", out)]


def outer_initramfs(path, debian_root, disks):
    entries = dirs("bin", "dev", "proc", "sys", "tmp", "mods", "work", "lib", "lib64",
                   "lib/x86_64-linux-gnu") + busybox_entries()
    # iproute2's ip (emberd's networks need bridges and taps busybox cannot make).
    ip = pathlib.Path(shutil.which("ip") or "/usr/sbin/ip")
    for lib in set(shared_libraries(EMBER)) | set(shared_libraries(ip)):
        entries.append(file(str(lib).lstrip("/"), lib.read_bytes(), 0o100755))
    entries.append(file("bin/ip", ip.read_bytes(), 0o100755))
    for m in MODULES:
        entries.append(file(f"mods/{m}.ko", kernel_module(debian_root, m).read_bytes()))
    libs = [file(str(lib).lstrip("/"), lib.read_bytes(), 0o100755)
            for lib in shared_libraries(VSOCK_PEER)]
    linux_cpio = cpio_newc(dirs("bin", "dev", "proc", "sys", "mods", "lib", "lib64",
                                "lib/x86_64-linux-gnu") + busybox_entries() + libs
                           + [file("bin/vsock-peer", VSOCK_PEER.read_bytes(), 0o100755)]
                           + [file(f"mods/{m}.ko", kernel_module(debian_root, m).read_bytes())
                              for m in LINUX_MODULES]
                           + [file("init", LINUX_INIT.encode(), 0o100755)])
    script = SCENARIO_FUNCS + "".join(
        "run_manager\n" if a == "MANAGER" else
        "run_manager_net\n" if a == "MANAGER-NET" else
        "run_manager_migrate\n" if a == "MANAGER-MIGRATE" else
        "run_manager_jail\n" if a == "MANAGER-JAIL" else
        f"run_api {n} '{a[4:]}'\n" if a.startswith("API ") else
        f"run_snap {n} {a.split(' ', 3)[0]} {a.split()[1]} /work/ember run {a.split(' ', 2)[2]}\n"
        if a.startswith(("SNAP ", "VHOSTSNAP ", "VHOSTMIGRATE ", "VHOSTFAIL ", "STREAMFAIL ",
                         "MIGRATE ", "FAILMIGRATE ")) else
        SCENARIO.format(runner=runner(a), name=n, args=a, quoted=shlex.quote(a))
        for n, a in scenarios().items() if selected(n))
    script += "run images md5sum d0.img d1.img h0.img h1.img\n"
    work = {"ember": (EMBER.read_bytes(), 0o100755), "guest.elf": (GUEST_ELF.read_bytes(), 0),
            "vsock-peer": (VSOCK_PEER.read_bytes(), 0o100755),
            "api-call": (API_CALL.read_bytes(), 0o100755),
            "emberd": ((EMBER.parent / "emberd").read_bytes(), 0o100755),
            "emberctl": ((EMBER.parent / "emberctl").read_bytes(), 0o100755),
            "ember-jailer": ((EMBER.parent / "ember-jailer").read_bytes(), 0o100755),
            "guest-nopvh.elf": (GUEST_NOPVH.read_bytes(), 0),
            "guest.bzImage": (GUEST_BZIMAGE.read_bytes(), 0),
            "bzImage": (kernel_image(debian_root).read_bytes(), 0),
            "linux.cpio": (linux_cpio, 0), "scenarios.sh": (script.encode(), 0)}
    work.update({name: (data, 0) for name, data in disks.items()})
    for name, (data, mode) in work.items():
        entries.append(file(f"work/{name}", data, mode or 0o100644))
    init = OUTER_INIT.format(modules=" ".join(MODULES))
    entries.append(file("init", init.encode(), 0o100755))
    path.write_bytes(cpio_newc(entries))


def ext4_image(work):
    """A small ext4 file system holding hello.txt."""
    mkfs = shutil.which("mkfs.ext4") or "/usr/sbin/mkfs.ext4"
    if not pathlib.Path(mkfs).exists():
        pytest.skip("needs mkfs.ext4 (e2fsprogs)")
    (work / "rootdir").mkdir()
    (work / "rootdir" / "hello.txt").write_text("hello from the host\n")
    image = work / "root.img"
    subprocess.run([mkfs, "-q", "-F", "-d", str(work / "rootdir"), str(image), "4M"],
                   check=True, capture_output=True)
    return image.read_bytes()


def md5(data):
    return hashlib.md5(data).hexdigest()


def parse(console):
    """Scenario name -> GuestRun, from the outer VM's console."""
    runs = {}
    pattern = re.compile(r"@@@ (\S+) rc=(\d+)\n(.*?)@@@ \1 stderr\n(.*?)@@@ \1 end", re.S)
    for m in pattern.finditer(console):
        runs[m.group(1)] = GuestRun(int(m.group(2)), m.group(3), m.group(4), 0.0)
    return runs


@pytest.fixture(scope="module")
def nested(debian_root, tmp_path_factory):
    if not QEMU:
        pytest.skip("qemu-system-x86_64 is not installed")
    work = tmp_path_factory.mktemp("nested")
    disks = {}
    for name, size, seed in [("d0.img", 1 << 20, 1), ("d1.img", 512 << 10, 2),
                             ("a.img", 64 << 10, 0), ("b.img", 64 << 10, 0),
                             ("raw.img", 64 << 10, 3), ("h0.img", 64 << 10, 4),
                             ("h1.img", 64 << 10, 5), ("bench.img", 1 << 20, 6)]:
        disks[name] = make_disk(work / name, size, seed)
    disks["root.img"] = ext4_image(work)
    initrd = work / "outer.cpio"
    outer_initramfs(initrd, debian_root, disks)
    kernel = kernel_image(debian_root)
    for attempt in range(1, BOOT_ATTEMPTS + 1):
        log = work / f"console-{attempt}.txt"
        if boot_outer_vm(kernel, initrd, log):
            break
        print(f"the outer VM stopped dead (attempt {attempt}, {log}): QEMU's emulated SVM hang")
    console = log.read_bytes().decode(errors="replace").replace("\r\n", "\n")
    assert "NESTED-DONE" in console, f"the outer VM did not finish ({log}):\n{console[-4000:]}"
    assert "NESTED-ERROR" not in console, console[-4000:]
    return parse(console), disks, console


def boot_outer_vm(kernel, initrd, log):
    """Runs the outer VM, its console to `log`: False when it stopped dead (no output for
    SILENT_S, QEMU's emulated-SVM hang), True once it ended (or ran out of time)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [QEMU, "-M", "q35", "-accel", "tcg", "-cpu", "max", "-smp", "1",
             "-m", "1536", "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
             "-no-reboot", "-kernel", str(kernel), "-initrd", str(initrd),
             "-append", "console=ttyS0 quiet loglevel=1 panic=-1 softlockup_panic=1 rdinit=/init"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        start = last_change = time.monotonic()
        size = 0
        while proc.poll() is None:
            time.sleep(1)
            now = time.monotonic()
            if log.stat().st_size != size:
                size, last_change = log.stat().st_size, now
            if now - last_change > SILENT_S or now - start > OUTER_LIMIT_S:
                proc.kill()
                proc.wait()
                return now - last_change <= SILENT_S
    return True


def scenario(nested, name):
    if not selected(name):
        pytest.skip("not in EMBER_NESTED_ONLY")
    runs, _, console = nested
    assert name in runs, console[-4000:]
    return runs[name]


def test_stock_linux_boots_with_two_vcpus(nested):
    r = scenario(nested, "linux")
    assert "EMBER-LINUX cpus=2" in r.stdout, r.explain()
    assert r.returncode == 0, r.explain()  # poweroff -f: ACPI S5


def linux_says(r, what):
    return f"EMBER-LINUX {what}" in r.lines


def test_stock_linux_uses_virtio_disks_and_entropy(nested):
    r = scenario(nested, "linux-virtio-1")
    _, disks, _ = nested
    assert r.returncode == 0, r.explain()
    for line in ["mounted hello from the host", "vdb_ro=1", "rng=16", "unmounted",
                 f"vdb={md5(disks['raw.img'][8 * 512:16 * 512])}  -"]:
        assert linux_says(r, line), r.explain()
    assert linux_says(r, "rng_name=virtio_rng.0"), r.explain()
    assert "failed" not in r.stdout, r.explain()


def test_what_linux_wrote_is_on_the_disk_in_the_next_vm(nested):
    r = scenario(nested, "linux-virtio-2")
    assert r.returncode == 0, r.explain()
    assert linux_says(r, "readback=written by the guest"), r.explain()


def test_stock_linux_talks_on_the_virtio_console(nested):
    r = scenario(nested, "linux-hvc")
    assert r.returncode == 0, r.explain()
    # stdout is hvc0 alone: the UART (console=ttyS0) went nowhere.
    assert r.lines[:2] == ["EMBER-LINUX hvc0 up", "EMBER-LINUX got=hello hvc0"], r.explain()


def test_test_guest_echoes_on_the_virtio_console(nested):
    r = scenario(nested, "console")
    assert r.returncode == 0, r.explain()
    assert r.lines[:2] == ["READY virtio-console", "ECHO hello hvc0"], r.explain()


def test_stock_linux_pings_the_host_through_virtio_net(nested):
    r = scenario(nested, "linux-net")
    assert r.returncode == 0, r.explain()
    assert linux_says(r, "mac=06:00:ac:10:00:02"), r.explain()
    assert linux_says(r, "ping=ok"), r.explain()
    assert linux_says(r, "3 packets transmitted, 3 packets received, 0% packet loss"), r.explain()


def test_host_pings_the_test_guest_through_virtio_net(nested):
    r = scenario(nested, "net")
    assert "3 packets transmitted, 3 packets received" in r.stderr, r.explain()
    assert r.returncode == 0 and r.passed("virtio-net"), r.explain()
    assert r.value("net_mac") == "06:00:ac:10:00:02"
    assert int(r.value("net_echo_replies")) >= 3


@pytest.mark.parametrize("name, protocol", [("pvh", "pvh"), ("elf64", "bootparams"),
                                            ("bzimage", "bootparams")])
def test_test_guest_boots(nested, name, protocol):
    r = scenario(nested, name)
    assert r.returncode == 0 and r.lines[0] == f"EMBER-GUEST boot={protocol}", r.explain()
    assert r.failures() == [] and "DONE" in r.lines, r.explain()


def test_smp(nested):
    r = scenario(nested, "smp")
    assert r.returncode == 0 and r.passed("smp"), r.explain()
    assert r.value("apic_ids") == "0,1,2,3"


def test_virtio_rng(nested):
    r = scenario(nested, "rng")
    assert r.returncode == 0 and r.passed("virtio-rng"), r.explain()
    assert r.value("virtio_rng_irqs") == "4"


def test_virtio_blk(nested):
    r = scenario(nested, "blk")
    _, disks, _ = nested
    check_blk_report(r, disks["d0.img"], disks["d1.img"])
    # The images stay in the outer VM: compare their hashes, printed after the runs.
    images = scenario(nested, "images").stdout.split()
    assert images[:4] == [md5(blk_image_after(disks["d0.img"])), "d0.img",
                          md5(disks["d1.img"]), "d1.img"]


def split_peer(r):
    """The scenario's run without the peer's output, the peer's status and output."""
    ember_err, _, peer = r.stderr.partition("peer: ")
    peer, _, rc = ("peer: " + peer).rpartition("peer rc=")
    return GuestRun(r.returncode, r.stdout, ember_err, 0.0), int(rc), peer


@pytest.mark.parametrize("name", ["vsock", "vhost-vsock"])
def test_virtio_vsock(nested, name):
    check_vsock_run(*split_peer(scenario(nested, name)))


def test_vhost_vsock_vm_migrates_and_talks_in_the_receiver(nested):
    """Live migration of a vhost-vsock VM on one host: the kernel's worker is held from the
    first copy of RAM, the sender closes its vhost-vsock at the hand-over, and the receiver
    takes the CID; there the guest talks with vsock-peer over AF_VSOCK."""
    r, rc, peer = split_peer(scenario(nested, "vhost-migrate"))
    calls, other = api_calls(r)
    send, receive = calls[-2], calls[-1]
    assert send[0] == 200 and '"downtime_ms"' in send[1], r.explain()
    assert receive[0] == 204 and "source rc=0" in other, r.explain()
    before, _, after = r.stdout.partition("=== migrated")
    assert "READY virtio-vsock" in before and after, r.explain()
    check_vsock_run(GuestRun(r.returncode, before + after, r.stderr, 0.0), rc, peer)


def test_vhost_vsock_vm_talks_on_after_a_migration_failed_past_the_hand_over(nested):
    """The receiver cannot use vhost-vsock, so it fails once the sender has closed its own:
    the sender opens a new vhost-vsock with the CID and the rings, and the guest talks."""
    r, rc, peer = split_peer(scenario(nested, "vhost-migrate-fail"))
    calls, _ = api_calls(r)
    assert [c[0] for c in calls] == [400, 400], r.explain()
    assert "vhost set-up" in calls[1][1], r.explain()
    assert "a new vhost-vsock has the rings" in r.stderr, r.explain()
    assert "tapF held=1" in r.stderr, r.explain()  # its persistent tap handed back too
    check_vsock_run(r, rc, peer)


def test_linux_vsock_stream_goes_on_through_a_failed_migration(nested):
    """Linux streams to the host over vhost-vsock while a migration holds the kernel's worker,
    then fails (its receiver stopped, then killed): every line arrives."""
    r, rc, peer = split_peer(scenario(nested, "linux-vhost-stream"))
    calls, _ = api_calls(r)
    assert [c[0] for c in calls] == [400], r.explain()
    assert "EMBER-LINUX stream rc=0" in r.stdout, r.explain()
    assert rc == 0 and "peer: got 100 lines" in peer, r.explain() + "\n--- peer ---\n" + peer


def test_vhost_vsock_vm_is_snapshotted_and_talks_after_its_restore(nested):
    """vhost-vsock's rings go into the snapshot (the kernel's positions) and back into a new
    vhost-vsock: restored in a second ember, the guest still listens and talks with a host
    program over AF_VSOCK."""
    r, rc, peer = split_peer(scenario(nested, "vhost-snapshot"))
    calls, _ = api_calls(r)
    assert [c[0] for c in calls] == [204, 204, 204, 200], r.explain()
    before, _, after = r.stdout.partition("=== restored")
    assert "READY virtio-vsock" in before and after, r.explain()
    check_vsock_run(GuestRun(r.returncode, before + after, r.stderr, 0.0), rc, peer)


@pytest.mark.parametrize("name", ["linux-vsock", "linux-vhost-vsock"])
def test_stock_linux_talks_over_vsock(nested, name):
    r, rc, peer = split_peer(scenario(nested, name))
    assert r.returncode == 0, r.explain()
    for line in ["guest: host said hello from the host", "guest: host answered welcome",
                 "vsock rc=0"]:
        assert linux_says(r, line), r.explain() + peer
    assert rc == 0, peer
    lines = [l for l in peer.splitlines() if not l.startswith("peer: connected")]
    assert lines == VSOCK_PEER_LINES, peer



def api_calls(r):
    """(status, body) of each api-call in the scenario, and its other lines."""
    calls, other, lines = [], [], r.stderr.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].isdigit() and i + 2 < len(lines) and lines[i + 2].startswith("rc="):
            calls.append((int(lines[i]), lines[i + 1]))
            i += 3
        else:
            other.append(lines[i])
            i += 1
    return calls, other


def test_api_boots_pauses_and_resumes_the_guest(nested):
    r = scenario(nested, "api-ticker")
    calls, other = api_calls(r)
    assert r.returncode == 0 and r.passed("ticker"), r.explain()
    assert [c[0] for c in calls] == [200, 204, 204, 204, 204, 204, 200, 204], r.explain()
    assert '"state":"Not started"' in calls[0][1] and '"state":"Paused"' in calls[6][1]
    modes = [l.split()[-1] for l in other if l.startswith("seccomp ")]
    assert len(modes) >= 4 and set(modes) == {"2"}, r.explain()  # main, vcpu0, rng, API
    paused = [l for l in other if l.startswith("paused_ticks=")][0].split("=")[1].split(",")
    assert paused[0] == paused[1], r.explain()  # nothing while paused
    ticks = [int(l.split()[1]) for l in r.lines if l.startswith("TICK ")]
    assert ticks == list(range(1, 31)), r.explain()  # no reset, none lost


def test_snapshot_restores_into_a_new_process(nested):
    """The ticker counts on in a second ember from where the first one's snapshot left it,
    its network interface moved to another tap by the load's network_overrides."""
    import json
    r = scenario(nested, "api-snapshot")
    calls, other = api_calls(r)
    # GET /, 5 x config, InstanceStart, Paused, snapshot; then load, GET /, GET /vm/config.
    assert [c[0] for c in calls] == [200] + [204] * 8 + [200, 200], r.explain()
    assert '"state":"Running"' in calls[-2][1], r.explain()
    ifaces = json.loads(calls[-1][1])["network-interfaces"]
    assert [(i["iface_id"], i["host_dev_name"]) for i in ifaces] == [("eth0", "tapS1")], \
        r.explain()
    assert r.returncode == 0 and r.passed("ticker"), r.explain()
    before, _, after = r.stdout.partition("=== restored\n")
    ticks, whole_before = ticks_across(before, after)
    assert whole_before and "TICK" in after and "READY" not in after, r.explain()  # no reboot
    assert ticks == list(range(1, 41)), r.explain()  # no reset, none lost or doubled
    sizes = [l for l in other if l.startswith("snapshot_bytes=")]
    assert sizes, r.explain()


def test_diff_snapshot_applied_to_the_full_one_restores(nested):
    """Full, then diff (only the pages written since), rebase-snap, restore: the ticks go on."""
    r = scenario(nested, "api-diff")
    calls, other = api_calls(r)
    statuses = [c[0] for c in calls]
    # GET /, 4 x config, start, pause, full, resume, pause, diff; load, GET /.
    assert statuses == [200] + [204] * 10 + [200], r.explain()
    assert "rebase rc=0" in other, r.explain()
    blocks = dict(kv.split("=") for kv in [l for l in other if l.startswith("base_blocks")][0].split())
    assert int(blocks["diff_blocks"]) < int(blocks["base_blocks"]), r.explain()
    assert r.returncode == 0 and r.passed("ticker"), r.explain()
    before, _, after = r.stdout.partition("=== restored\n")
    ticks, whole_before = ticks_across(before, after)
    assert whole_before >= 8 and "TICK" in after, r.explain()
    assert ticks == list(range(1, 41)), r.explain()


def ticks_across(*parts):
    """The ticker's numbers in its output cut in parts (by pauses for snapshots or
    migrations, which can fall between two bytes of a line: the next part ends it), and how
    many whole TICK lines the first part has."""
    ticks = [int(t) for t in re.findall(r"TICK (\d+)", "".join(parts))]
    return ticks, len(re.findall(r"TICK \d+\r", parts[0]))  # the guest ends lines in \r\n


def manager_steps(text):
    """[(command, output, rc)] from the manager scenario's '### COMMAND' sections."""
    steps = []
    for block in text.split("### ")[1:]:
        head, _, body = block.partition("\n")
        lines = body.rstrip("\n").split("\n")
        rc = int(lines[-1][3:]) if lines and lines[-1].startswith("rc=") else None
        steps.append((head, "\n".join(lines[:-1] if rc is not None else lines), rc))
    return steps


def manager_scenario(nested, name):
    """The scenario's run and {command: (output, rc)}, every command having succeeded."""
    r = scenario(nested, name)
    steps = manager_steps(r.stdout)
    failed = [(c, o) for c, o, rc in steps if rc not in (0, None)]
    assert not failed, r.explain()
    return r, {c: (o, rc) for c, o, rc in steps}


def test_manager_runs_a_small_fleet(nested):
    """emberd and emberctl with real VMs: lifecycle, snapshot and restore, a restart of
    emberd with a VM running, a crash noticed, shutdown honoured and ignored."""
    import json
    r = scenario(nested, "manager")
    steps = manager_steps(r.stdout)
    by = {}
    for cmd, out, rc in steps:
        by.setdefault(cmd, []).append((out, rc))
    failed = [(c, o) for c, o, rc in steps if rc not in (0, None) and c != "host-check"]
    assert not failed, r.explain()
    info = json.loads(by["--json info ticking"][0][0])
    assert info["state"] == "running" and [v["vcpu"] for v in info["vcpus"]] == [0], r.explain()
    assert json.loads(by["--json list"][0][0])[0]["state"] == "paused", r.explain()
    assert json.loads(by["--json list"][1][0])[0]["state"] == "running", r.explain()
    after_restart = {v["name"]: v["state"] for v in json.loads(by["--json list --all"][0][0])}
    assert after_restart == {"ticking": "running", "button": "shut off", "echoer": "running"}, \
        r.explain()
    assert json.loads(by["--json info ticking"][1][0])["state"] == "crashed", r.explain()
    assert by["shutdown button --timeout 60"][0][0] == "VM 'button' shut down", r.explain()
    assert by["shutdown ticking --timeout 3"][0][0] == \
        "VM 'ticking' did not shut down in time: destroyed", r.explain()
    assert "PASS  /dev/kvm" in by["host-check"][0][0], r.explain()
    ticks = [int(t) for t in by["console ticks"][0][0].split()]
    assert len(ticks) >= 10, r.explain()  # 3 s of a 100 ms ticker
    # After emberd's restart the console is back (from ember's console socket), the
    # ticker going on; console.log goes on too (what came while no emberd listened is lost).
    after = [int(t) for t in by["console ticks after restart"][0][0].split()]
    assert len(after) >= 10 and after[0] > ticks[-1], r.explain()
    assert after == list(range(after[0], after[0] + len(after))), r.explain()
    logged = [int(t) for t in by["console.log ticks"][0][0].split()]
    assert logged == sorted(set(logged)) and set(ticks + after) <= set(logged), r.explain()
    echoed = by["console echoer"][0][0]
    assert "ECHO hello again" in echoed and "PASS echo" in echoed, r.explain()
    events = [json.loads(l) for l in r.stdout.split("### events\n")[1].splitlines()
              if l.startswith("{")]
    assert [(e["event"], e["vm"]) for e in events] == [
        ("defined", "ticking"), ("defined", "button"), ("defined", "echoer"),
        ("started", "ticking"), ("paused", "ticking"), ("resumed", "ticking"),
        ("snapshot", "ticking"), ("destroyed", "ticking"), ("restored", "ticking"),
        ("started", "echoer"), ("shutdown", "echoer"), ("crashed", "ticking"),
        ("started", "button"), ("shutdown", "button"), ("started", "ticking"),
        ("destroyed", "ticking")], r.explain()


def test_manager_migrates_a_vm_between_two_emberds(nested):
    """emberctl start --incoming on one emberd, emberctl migrate on the other: the ticker
    counts on in the receiving ember, with none lost or doubled; both emberds know."""
    import json
    r, by = manager_scenario(nested, "manager-migrate")
    waiting = json.loads(by["b --json info mover"][0])
    assert waiting["state"] == "paused" and waiting["migration"]["state"] == "listening", \
        r.explain()
    sent = by["a migrate mover unix:/tmp/mgm.sock --verbose"][0]
    assert re.search(r"VM 'mover' migrated to unix:/tmp/mgm.sock: \d+ ms, \d+ ms paused, "
                     r"\d+ rounds, [\d.]+ MiB$", sent), r.explain()
    # (An idle 64 MiB guest moves in well under the 0.5 s of the first progress line;
    # the progress display is tested with the stand-in ember in test_manager.py.)
    assert json.loads(by["incoming"][0]) == {}, r.explain()
    # b's definition moved the vsock to its own path; a let go of its own.
    socks = by["vsock sockets"][0]
    assert "/tmp/mgv-b.sock" in socks and "mgv.sock: No such file" in socks, r.explain()
    assert json.loads(by["a --json list --all"][0])[0]["state"] == "shut off", r.explain()
    assert json.loads(by["b --json list --all"][0])[0]["state"] == "shut off", r.explain()
    ticks, whole_on_a = ticks_across(by["console a"][0], by["console b"][0])
    assert whole_on_a >= 5 and "TICK" in by["console b"][0], r.explain()
    assert ticks == list(range(1, 61)), r.explain()
    assert "PASS ticker" in by["console b"][0], r.explain()
    events = {side: [json.loads(l)["event"] for l in by[f"events {side}"][0].splitlines()
                     if l.startswith("{")] for side in "ab"}
    assert events["a"] == ["defined", "started", "migrating", "migrated"], r.explain()
    assert events["b"] == ["defined", "incoming", "started", "shutdown"], r.explain()


def test_manager_runs_a_vm_in_a_jail(nested):
    """A VM whose definition asks for a jail: ember runs as uid 1000 in its own root with
    no_new_privs; saved, destroyed, and restored into a fresh jail, it counts on; then it
    migrates over TCP into another emberd's jail, and counts on there."""
    import json
    r, by = manager_scenario(nested, "manager-jail")
    info = json.loads(by["j --json info caged"][0])
    assert info["state"] == "running" and info["jail_root"].endswith("/jail/ember/caged/root")
    status = by["status"][0]
    assert re.search(r"^Uid:\s+1000\s+1000\s+1000\s+1000$", status, re.M), r.explain()
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M), r.explain()
    assert re.search(r"^Seccomp:\s+2$", status, re.M), r.explain()
    assert {"kernel", "api.sock", "ember", "dev"} <= set(status.split()), r.explain()
    parts = [by[f"console {part}"][0] for part in ("before", "after", "moved")]
    # The source ran on between its snapshot and its destruction: the restored VM goes on
    # from the snapshot (at most where the source stopped), then across the migration
    # with none lost or doubled.
    before = [int(t) for t in re.findall(r"TICK (\d+)\r", parts[0])]  # whole lines
    ticks, _ = ticks_across(parts[1], parts[2])
    assert len(before) >= 5 and ticks and 5 < ticks[0] <= before[-1] + 1, r.explain()
    assert ticks == list(range(ticks[0], ticks[-1] + 1)) and "TICK" in parts[2], r.explain()
    assert "migrated in from tcp:127.0.0.1:4444" in by["incoming"][0], r.explain()
    assert by["jails"][0].split() == ["/tmp/mgj/state/jail/ember:", "/tmp/mgk/state/jail/ember:"], \
        r.explain()  # each jail went with its VM
    events = [json.loads(l)["event"] for l in by["events"][0].splitlines() if l.startswith("{")]
    assert events == ["defined", "started", "snapshot", "destroyed", "restored", "migrating",
                      "migrated"], r.explain()


def test_two_vms_on_a_managed_network_reach_each_other(nested):
    """emberd's bridge and taps: Debian's kernel pings the test guest in the other VM."""
    import json
    r = scenario(nested, "manager-net")
    steps = manager_steps(r.stdout)
    failed = [(c, o) for c, o, rc in steps if rc not in (0, None)]
    assert not failed, r.explain()
    info = json.loads(dict((c, o) for c, o, _ in steps)["net-info net0"])
    assert info["state"] == "active" and sorted(info["vms"]) == ["answers", "pings"], r.explain()
    assert "EMBER-LINUX peer-ping=ok" in r.stdout, r.explain()
    assert "PASS virtio-net" in r.stdout, r.explain()


def test_boot_timer_logs_the_guest_boot_time(nested):
    r = scenario(nested, "boot-timer")
    assert r.returncode == 0 and r.passed("boot-timer"), r.explain()
    assert re.search(r"Guest-boot-time = +\d+ us \d+ ms, +\d+ CPU us \d+ CPU ms", r.stderr), \
        r.explain()


def test_migration_moves_the_running_guest(nested):
    """The ticker counts on in the receiving ember; the sender ends with status 0. The
    receiver, on the same host, put the VM's interface on another tap (network_overrides)."""
    import json
    r = scenario(nested, "api-migrate")
    calls, other = api_calls(r)
    assert r.returncode == 0 and r.passed("ticker"), r.explain()
    send, receive, config = calls[-3], calls[-2], calls[-1]
    assert send[0] == 200 and '"downtime_ms"' in send[1], r.explain()
    assert receive[0] == 204 and "source rc=0" in other, r.explain()
    ifaces = json.loads(config[1])["network-interfaces"]
    assert [(i["iface_id"], i["host_dev_name"]) for i in ifaces] == [("eth0", "tapM1")], \
        r.explain()
    before, _, after = r.stdout.partition("=== migrated\n")
    ticks, whole_before = ticks_across(before, after)
    assert whole_before and "TICK" in after and "READY" not in after, r.explain()
    assert ticks == list(range(1, 41)), r.explain()  # no reset, none lost or doubled


def test_migration_on_one_host_keeps_a_persistent_tap(nested):
    """No network_overrides: the sender lets go of its persistent tap at the hand-over and the
    receiver on the same host attaches to it; the ticker counts on."""
    r = scenario(nested, "tap-migrate")
    calls, other = api_calls(r)
    send, receive = calls[-2], calls[-1]
    assert send[0] == 200 and receive[0] == 204 and "source rc=0" in other, r.explain()
    assert r.returncode == 0 and r.passed("ticker"), r.explain()
    before, _, after = r.stdout.partition("=== migrated\n")
    ticks, whole_before = ticks_across(before, after)
    assert whole_before and "TICK" in after and ticks == list(range(1, 41)), r.explain()


def test_linux_migrates_with_its_disk(nested):
    """Debian's kernel, 2 vCPUs, a virtio disk (its lock handed over) and entropy."""
    r = scenario(nested, "linux-migrate")
    calls, other = api_calls(r)
    assert [c[0] for c in calls] == [200, 204], r.explain()
    assert r.returncode == 0 and "source rc=0" in other, r.explain()
    before, after = r.stdout.split("=== migrated")
    assert "EMBER-LINUX snap-ready" in before and "cpus=" not in after, r.explain()
    assert "EMBER-LINUX after=written before the snapshot" in after, r.explain()
    assert "EMBER-LINUX rng=16" in after and "EMBER-LINUX wrote=again" in after, r.explain()


def test_a_failed_migration_leaves_the_source_running(nested):
    """The receiver dies mid-stream: the send fails, Linux goes on in the source, disk and all."""
    r = scenario(nested, "linux-migrate-fail")
    calls, _ = api_calls(r)
    assert len(calls) == 1 and calls[0][0] == 400 and "migration" in calls[0][1], r.explain()
    assert r.returncode == 0, r.explain()
    assert "EMBER-LINUX after=written before the snapshot" in r.stdout, r.explain()
    assert "EMBER-LINUX wrote=again" in r.stdout, r.explain()  # the disk works on


def test_linux_runs_on_after_a_snapshot_restore(nested):
    """Stock Linux with 2 vCPUs, a virtio disk and entropy, snapshotted mid-run."""
    r = scenario(nested, "linux-snapshot")
    calls, _ = api_calls(r)
    assert [c[0] for c in calls] == [204, 204, 204, 200], r.explain()  # pause, create, load, GET
    assert r.returncode == 0, r.explain()
    before, after = r.stdout.split("=== restored")
    assert "EMBER-LINUX snap-ready" in before and "cpus=" not in after, r.explain()  # no reboot
    assert "EMBER-LINUX after=written before the snapshot" in after, r.explain()
    assert "EMBER-LINUX rng=16" in after and "EMBER-LINUX wrote=again" in after, r.explain()
    assert "EMBER-LINUX unmounted" in after, r.explain()


@pytest.mark.parametrize("name, test, key, value", [
    ("api-cad", "ctrl-alt-del", "kbd", "1d,38,e0,53,e0,d3,b8,9d"),
    ("api-pwrbtn", "power-button", "pwrbtn_irqs", "1"),
])
def test_api_actions_reach_the_guest(nested, name, test, key, value):
    """SendCtrlAltDel (the keyboard's scancodes) and the power button (GED's GSI)."""
    r = scenario(nested, name)
    calls, _ = api_calls(r)
    assert [c[0] for c in calls] == [200, 204, 204, 204, 204, 204], r.explain()
    assert r.returncode == 0 and r.passed(test), r.explain()
    assert r.value(key) == value


def test_hostile_guest(nested):
    r = scenario(nested, "hostile")
    _, disks, _ = nested
    check_hostile_run(r)
    # Only reads reached the images: both are as they were.
    images = scenario(nested, "images").stdout.split()
    assert images[4:] == [md5(disks["h0.img"]), "h0.img", md5(disks["h1.img"]), "h1.img"]


def test_virtio_bad_chain(nested):
    r = scenario(nested, "badchain")
    assert r.returncode == 0 and r.passed("virtio-bad-chain") and r.passed("hello"), r.explain()
    assert "virtio-rng: bad descriptor chain" in r.stderr


def test_io_benchmark_phases_run(nested):
    r = scenario(nested, "bench-io")
    assert r.returncode == 0 and r.failures() == [], r.explain()
    assert r.passed("bench-blk") and r.passed("bench-net"), r.explain()
    for phase, ops in [("blk-randread", 2000), ("blk-seqread", 32), ("blk-seqwrite", 32),
                       ("net-tx-1514", 2000), ("net-tx-60", 2000)]:
        assert f"BENCH {phase} done ops={ops} " in r.stdout, r.explain()


def test_devices_in_order(nested):
    r = scenario(nested, "order")
    assert r.value("cmdline").endswith(
        " virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6"
        " virtio_mmio.device=4K@0xd0002000:7"), r.explain()


def test_missing_disk(nested):
    r = scenario(nested, "nodisk")
    assert r.returncode == 1
    assert r.stderr.strip() == "ember: disk '/work/nope.img': No such file or directory"
