#!/bin/sh
# Run the fuzz targets: run.sh MODE SECONDS TARGET...
#
#   test  replay every saved crash in tests/fuzz/regressions/TARGET/
#         (each one test), then fuzz each target for SECONDS (one test
#         each): what `make test` runs.
#   fuzz  fuzz each target for SECONDS: `make fuzz`.
#
# Binaries are in $FUZZ_BUILD (build/fuzz).  Seeds are read from
# tests/fuzz/corpus/TARGET/; new inputs go to $FUZZ_BUILD/corpus/TARGET/,
# crashes to $FUZZ_BUILD/crashes/TARGET/ (reproduce one with
# `$FUZZ_BUILD/fuzz_TARGET FILE`, then save it in the regressions).
# The last line is "N passed, N failed"; the exit status is 1 on any
# failure.

mode=$1 seconds=$2
shift 2
build=${FUZZ_BUILD:-build/fuzz}
here=$(dirname "$0")
passed=0 failed=0

for t in "$@"; do
	bin=$build/fuzz_$t
	mkdir -p "$build/corpus/$t" "$build/crashes/$t" "$build/logs"
	if [ "$mode" = test ] && [ -d "$here/regressions/$t" ]; then
		for f in "$here/regressions/$t"/*; do
			[ -f "$f" ] || continue
			if timeout 60 "$bin" -runs=1 "$f" \
			    >"$build/logs/$t.replay.log" 2>&1 </dev/null; then
				passed=$((passed + 1))
			else
				failed=$((failed + 1))
				echo "FAIL regression fuzz_$t $f"
				grep -v '^INFO:' "$build/logs/$t.replay.log" |
				    head -n 30
			fi
		done
	fi
	log=$build/logs/$t.log
	if timeout $((seconds + 120)) "$bin" -max_total_time="$seconds" \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$build/crashes/$t/" \
	    "$build/corpus/$t" "$here/corpus/$t" >"$log" 2>&1 </dev/null; then
		passed=$((passed + 1))
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		echo "ok   fuzz_$t: ${runs:-?} inputs in ${seconds}s"
	else
		failed=$((failed + 1))
		echo "FAIL fuzz_$t (log: $log; input in $build/crashes/$t/)"
		grep -A 24 -m 1 '^fuzz: \|ERROR\|runtime error' "$log" |
		    head -n 25
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
