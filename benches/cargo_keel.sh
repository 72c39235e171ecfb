#!/usr/bin/env bash
# What `cargo keel` costs (issue 27), on the program tests/cargo-keel-fixtures/bench/:
#
#   bash benches/cargo_keel.sh calls    # per-call cost: callgrind instructions and timed ns
#   bash benches/cargo_keel.sh uftrace  # the same uninstrumented function under uftrace
#   bash benches/cargo_keel.sh build    # build time: cargo keel build vs cargo build (ROUNDS=2)
#
# calls: builds the program with `cargo keel build --instrument keel_fixture_benchdep::work
#   -- --release` and, for each variant (the dependency's `work` instrumented by cargo keel, the
#   same function in the program with #[keel::instrument], and each one's uninstrumented twin,
#   the floor) and each mode (tracing off; on with a Stats sink), counts the instructions of
#   N and 2N calls under callgrind, counted only inside the program's `run` (the calls' loop):
#   (Ir(2N) - Ir(N)) / N is the per-call count. (Start-up is left out, not just cancelled: the
#   clock's calibration when tracing is enabled is a time-bounded loop whose count moves with
#   the machine's load, by up to ~60 instructions per call at N = 200,000.) Then the program
#   times the four variants in one run (best of 15 rounds).
# uftrace: Debian's uftrace on the same binary's uninstrumented function, if it can trace it.
# build: a clean `cargo build --release` of the program (keel, regex and the small dependency)
#   against a clean `cargo keel build --instrument regex -- --release`, alternated, each in a
#   target directory of its own made empty first; CPU (user+sys of every process) and wall.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fixture="$root/tests/cargo-keel-fixtures/bench"
out="${KEEL_BENCH_DIR:-$root/target/cargo-keel-bench}"
n="${CALLS:-200000}"
what="${1:-calls}"

tool() {
    cargo build -q --release -p cargo-keel --manifest-path "$root/Cargo.toml" >&2
    echo "$root/target/release/cargo-keel"
}

program() { # the instrumented build of the program; prints its path
    local keel
    keel="$(tool)"
    cp "$root/Cargo.lock" "$fixture/Cargo.lock"
    (cd "$fixture" && CARGO_TARGET_DIR="$out/calls" "$keel" keel build \
        --instrument keel_fixture_benchdep::work -- -q --release --offline >&2)
    echo "$out/calls/keel/release/keel-fixture-bench"
}

ir() { # instructions of one run: variant calls mode
    valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='keel_fixture_bench::run*' \
        "$bin" "$1" "$2" "$3" 2>&1 >/dev/null |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

case "$what" in
calls)
    bin="$(program)"
    printf '%-12s %-6s %s\n' variant mode "instructions/call"
    for mode in off stats; do
        for variant in plain local_plain dep local; do
            a="$(ir "$variant" "$n" "$mode")"
            b="$(ir "$variant" "$((2 * n))" "$mode")"
            printf '%-12s %-6s %s\n' "$variant" "$mode" "$(echo "scale=1; ($b - $a) / $n" | bc)"
        done
    done
    for mode in off stats; do
        echo "timed, tracing $mode:"
        "$bin" x 2000000 "$mode" time
    done
    ;;
uftrace)
    bin="$(program)"
    command -v uftrace >/dev/null || { echo "uftrace is not installed (apt-get install uftrace)"; exit 1; }
    data="$(mktemp -d)"
    trap 'rm -rf "$data"' EXIT
    cpu_ns() { # command...: the CPU time (user+sys, every process) in ns
        local t
        t="$(mktemp)"
        /usr/bin/time -f '%U %S' -o "$t" "$@" >/dev/null 2>&1
        awk '{ printf "%d\n", ($1 + $2) * 1e9 }' "$t"
        rm -f "$t"
    }
    per_call() { # label command...: CPU ns per call from N and 3N calls ("CALLS" in the command)
        local label="$1" a b
        shift
        a="$(cpu_ns "${@/CALLS/$n}")"
        b="$(cpu_ns "${@/CALLS/$((3 * n))}")"
        echo "$label $(((b - a) / (2 * n)))"
    }
    # uftrace's full dynamic tracing (-P, through capstone) patches the entry of a function of a
    # binary built without -pg or patchable entries: the uninstrumented twin here.
    for round in 1 2 3; do
        echo "round $round (CPU ns per call, from $n and $((3 * n)) calls):"
        per_call "  untraced work_plain          " "$bin" plain CALLS off
        per_call "  uftrace -P work_plain        " uftrace record -d "$data/t" -P '.*work_plain.*' "$bin" plain CALLS off
        per_call "  cargo keel work, Stats       " "$bin" dep CALLS stats
        per_call "  #[keel::instrument], Stats   " "$bin" local CALLS stats
    done
    uftrace record -d "$data/t" -P '.*work_plain.*' "$bin" plain 1000 off >/dev/null
    uftrace report -d "$data/t" | head -3
    ;;
build)
    keel="$(tool)"
    cp "$root/Cargo.lock" "$fixture/Cargo.lock"
    cpu() { # command...: prints "cpu_seconds wall_seconds"
        local t
        t="$(mktemp)"
        /usr/bin/time -f '%U %S %e' -o "$t" "$@" >/dev/null 2>&1
        awk '{ printf "%.1f %.1f\n", $1 + $2, $3 }' "$t"
        rm -f "$t"
    }
    for round in $(seq "${ROUNDS:-2}"); do
        rm -rf "$out/build-plain" "$out/build-keel"
        plain="$(cd "$fixture" && CARGO_TARGET_DIR="$out/build-plain" cpu cargo build --release --offline)"
        keeled="$(cd "$fixture" && CARGO_TARGET_DIR="$out/build-keel" cpu "$keel" keel build \
            --instrument regex -- --release --offline)"
        echo "round $round: plain cpu/wall $plain s; cargo keel --instrument regex cpu/wall $keeled s"
        echo "$plain $keeled" | awk '{ printf "  ratio cpu %.2fx wall %.2fx\n", $3 / $1, $4 / $2 }'
    done
    rm -rf "$out/build-plain" "$out/build-keel"
    ;;
*)
    echo "usage: bash benches/cargo_keel.sh calls|uftrace|build" >&2
    exit 2
    ;;
esac
