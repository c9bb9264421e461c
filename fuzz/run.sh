#!/usr/bin/env bash
# Runs every atheris target for a fixed budget; exits non-zero on a finding and prints the input's path.
#
#   fuzz/run.sh                         each target for FUZZ_SECONDS (default 60) seconds
#   FUZZ_SECONDS=600 fuzz/run.sh image_reader
#
# Environment: FUZZ_SECONDS (time per target), FUZZ_RUNS (cap on executions per target, default 1000000),
# FUZZ_RSS_MB (libFuzzer's resident-memory limit, default 1536), FUZZ_MEMORY_MB (address-space limit set in
# _harness.py, default 2048), FUZZ_TIMEOUT (seconds per input, default 10), FUZZ_FINDINGS (where failing
# inputs are written, default fuzz/findings), FUZZ_CORPUS (keep the grown corpus there across runs; default:
# a temporary folder), FUZZ_SEED (libFuzzer's random seed, default 1, so a CI run is repeatable; 0 draws one).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
seconds="${FUZZ_SECONDS:-60}"
runs="${FUZZ_RUNS:-1000000}"
rss_mb="${FUZZ_RSS_MB:-1536}"
timeout="${FUZZ_TIMEOUT:-10}"
seed="${FUZZ_SEED:-1}"
findings="${FUZZ_FINDINGS:-$here/findings}"
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(load_model image_reader)

python=${PYTHON:-python}
if ! "$python" -c "import atheris" 2>/dev/null; then
    echo "fuzz/run.sh: atheris is not installed for $("$python" -c 'import sys; print(sys.executable)'):" \
        "pip install atheris (3.0.0 has a cp311 manylinux wheel). Refusing to skip the fuzz targets." >&2
    exit 2
fi

mkdir -p "$findings"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for target in "${targets[@]}"; do
    corpus="${FUZZ_CORPUS:+$FUZZ_CORPUS/$target}"
    corpus="${corpus:-$scratch/corpus-$target}"
    mkdir -p "$corpus" "$scratch/tmp-$target"
    log="$scratch/$target.log"
    echo "== fuzz $target: ${seconds}s (at most $runs runs), rss limit ${rss_mb} MB, ${timeout}s per input"
    # TMPDIR: the targets' per-input files and seed corpus land in the scratch folder removed on exit.
    TMPDIR="$scratch/tmp-$target" "$python" "$here/$target.py" \
        -max_total_time="$seconds" -runs="$runs" -rss_limit_mb="$rss_mb" -timeout="$timeout" -seed="$seed" \
        -print_final_stats=1 -artifact_prefix="$findings/$target-" "$corpus" >"$log" 2>&1
    rc=$?
    # Coverage (cov: edges, ft: features) when the seeds were loaded and at the end, executions, peak memory.
    grep -E "^#[0-9]+[[:space:]]+INITED" "$log"
    grep -E "^#[0-9]+[[:space:]]" "$log" | tail -n 1
    grep -E "stat::(number_of_executed_units|peak_rss_mb)|^Done " "$log"
    if [ $rc -ne 0 ]; then
        status=1
        echo "!! fuzz $target: FINDING (exit $rc); the last lines of its log:" >&2
        grep -v "^INFO: Instrumenting" "$log" | tail -n 40 >&2
        found=$(grep -o "Test unit written to .*" "$log" | sed 's/Test unit written to //')
        echo "!! failing input: ${found:-none written (see the log above)}" >&2
        echo "!! replay it: python $here/$target.py <that file>" >&2
    fi
done
exit $status
