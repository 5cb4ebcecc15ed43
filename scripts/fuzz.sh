#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan, UBSan) into build-fuzz/ and runs
# each for SECONDS (default 300) from its seed corpus and its kept regression
# inputs (fuzz/regressions/<target>/). A crash stops with its input saved in
# build-fuzz/crashes/: fix the bug, then keep the input as a regression case.
#   scripts/fuzz.sh [SECONDS [TARGET...]]     targets: kernel virtqueue json api vsock net console snapshot blk
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-300}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	targets=(kernel virtqueue json api vsock net console snapshot blk)
fi
if [ ! -d build-fuzz ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dc_args=-fno-sanitize-recover=all >/tmp/ember-fuzz-setup.log 2>&1 ||
		{ tail -30 /tmp/ember-fuzz-setup.log; exit 1; }
fi
if ! ninja -C build-fuzz >build-fuzz/build.log 2>&1; then
	grep -B2 -A8 -m3 "error" build-fuzz/build.log || tail -30 build-fuzz/build.log
	exit 1
fi
BUILD=build-fuzz python3 fuzz/make_seeds.py build-fuzz/seeds
mkdir -p build-fuzz/crashes
for t in "${targets[@]}"; do
	corpus=build-fuzz/corpus/$t
	mkdir -p "$corpus"
	for seeds in fuzz/corpus/$t build-fuzz/seeds/$t; do
		[ -d "$seeds" ] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
	done
	log=build-fuzz/fuzz_$t.log
	dirs=("$corpus")
	[ -d fuzz/regressions/$t ] && dirs+=(fuzz/regressions/$t)
	if ! build-fuzz/fuzz/fuzz_$t -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix=build-fuzz/crashes/$t- \
		"${dirs[@]}" >"$log" 2>&1; then
		tail -40 "$log"
		echo "fuzz_$t: FAILED (input kept in build-fuzz/crashes/)"
		exit 1
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	echo "fuzz_$t: ${execs} runs in ${secs} s, ${cov}, corpus $(ls "$corpus" | wc -l) inputs"
done
