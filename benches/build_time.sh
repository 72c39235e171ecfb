#!/usr/bin/env bash
# Build-time cost of depending on keel, next to nutype, in one sitting (issue 18: lean to depend on).
#
#   bash benches/build_time.sh            # every row, 3 rounds, alternating the crates
#   ROUNDS=1 bash benches/build_time.sh   # quicker
#
# Makes throwaway crates under a temp dir and times, for each one:
#   clean   `cargo build` (debug) of a fresh crate with one validated struct, every dependency
#           compiled from scratch (its own target dir): nutype, keel default features, keel `full`
#           (the last in the first round only);
#   expand  `cargo check` of the crate's own code only (dependencies already built): 200
#           `#[derive(Bounded)]` newtypes and 200 `#[nutype]` newtypes, each against the same
#           plain newtypes (the per-derive cost); and 200 `#[derive(Bounded)]` newtypes, 200
#           `#[derive(Compact)]` structs and 200 `#[keel::instrument]` functions against the same
#           crate with the attributes removed.
# The rounds alternate the crates so that a drift of the shared machine hits all of them alike;
# the figures printed are the medians. Registry sources must be in cargo's cache or reachable.
#
#   bash benches/build_time.sh tour       # the tour's first run against an empty crate (issue 31)
#
# `tour` times, in pairs alternating the two (PAIRS=2 by default), each on a fresh target dir:
#   A  the README's first command, `cargo run --release --example tour` from the root (build +
#      run, output discarded);
#   B  `cargo build --release` of an empty binary crate (`fn main() {}`) depending on keel by
#      path with the tour's features (read from examples/tour/Cargo.toml), this workspace's
#      Cargo.lock copied in.
# It prints wall and CPU (user + sys, cargo and every compiler it ran) seconds per run and the
# medians and A/B ratios. CPU time is the figure that holds on a shared machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ "${1:-}" = tour ]; then
    pairs="${PAIRS:-2}"
    work="$(mktemp -d "${TMPDIR:-/tmp}/keel-tour-time.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    features="$(sed -n 's/^keel = { path = "..\/..", features = \(\[.*\]\) }$/\1/p' "$root/examples/tour/Cargo.toml")"
    [ -n "$features" ] || { echo "no keel features found in examples/tour/Cargo.toml" >&2; exit 1; }
    mkdir -p "$work/empty/src"
    printf '[package]\nname = "empty_on_keel"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n[workspace]\n\n[dependencies]\nkeel = { path = "%s", features = %s }\n' \
        "$root" "$features" >"$work/empty/Cargo.toml"
    echo 'fn main() {}' >"$work/empty/src/main.rs"
    cp "$root/Cargo.lock" "$work/empty/Cargo.lock"
    (cd "$work/empty" && cargo fetch -q) && (cd "$root" && cargo fetch -q)
    echo "B's dependency: keel with features $features" >&2
    timed() { # label, dir, command... ; appends "wall cpu" to $work/<label>
        local label="$1" dir="$2"
        shift 2
        rm -rf "$work/target"
        (cd "$dir" && CARGO_TARGET_DIR="$work/target" /usr/bin/time -f '%e %U %S' -o "$work/time" "$@" \
            >/dev/null 2>"$work/last.err") || { tail -20 "$work/last.err" >&2; exit 1; }
        read -r wall user sys <"$work/time"
        local cpu
        cpu=$(awk "BEGIN { print $user + $sys }")
        echo "$wall $cpu" >>"$work/$label"
        printf '%s  %-5s wall %7.1f s  cpu %7.1f s  (load: %s)\n' "$(date -u +%H:%M:%S)" "$label" \
            "$wall" "$cpu" "$(cut -d' ' -f1-3 /proc/loadavg)" >&2
        rm -rf "$work/target"
    }
    for ((p = 1; p <= pairs; p++)); do
        timed A "$root" cargo run --release --example tour
        timed B "$work/empty" cargo build --release
    done
    med() { cut -d' ' -f"$2" "$work/$1" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
    echo
    echo "| clean first run, median of $pairs | wall s | CPU s (user + sys) |"
    echo "|---|---|---|"
    printf '| A: the tour, `cargo run --release --example tour` from the root | %.0f | %.0f |\n' "$(med A 1)" "$(med A 2)"
    printf '| B: empty crate on keel with the tour'"'"'s features, `cargo build --release` | %.0f | %.0f |\n' "$(med B 1)" "$(med B 2)"
    printf '| A / B (medians) | **%.2fx** | **%.2fx** |\n' "$(awk "BEGIN { print $(med A 1) / $(med B 1) }")" "$(awk "BEGIN { print $(med A 2) / $(med B 2) }")"
    paste -d' ' "$work/A" "$work/B" | awk '{ printf "pair %d: A/B wall %.2fx, CPU %.2fx\n", NR, $1 / $3, $2 / $4 }'
    exit 0
fi
rounds="${ROUNDS:-3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/keel-build-time.XXXXXX")"
trap 'rm -rf "$work"' EXIT
nutype_version="$(sed -n 's/^nutype = "\(.*\)"/\1/p' "$root/benches/Cargo.toml")"
n=200

crate() { # name, dependency lines, main.rs body
    mkdir -p "$work/$1/src"
    printf '[package]\nname = "%s"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n[workspace]\n\n[dependencies]\n%s\n' \
        "$1" "$2" >"$work/$1/Cargo.toml"
    printf '%s\n' "$3" >"$work/$1/src/main.rs"
}

keel_default="keel = { path = \"$root\" }"
keel_full="keel = { path = \"$root\", features = [\"full\"] }"
nutype_dep="nutype = \"$nutype_version\""

one_bounded='#[derive(keel::Bounded, Debug)]
pub struct NetworkConfig {
    #[bounded(1..=65535)]
    port: u32,
}
fn main() {
    println!("{:?}", NetworkConfig::try_new(8080).map(|c| c.port()));
}'
one_nutype='#[nutype::nutype(validate(greater_or_equal = 1, less_or_equal = 65535), derive(Debug))]
pub struct Port(u32);
fn main() {
    println!("{:?}", Port::try_new(8080).map(|p| p.into_inner()));
}'
crate clean_nutype "$nutype_dep" "$one_nutype"
crate clean_keel "$keel_default" "$one_bounded"
crate clean_keel_full "$keel_full" "$one_bounded"

many() { # kind: keel | keel_plain | nutype | nutype_plain
    local i
    for ((i = 0; i < n; i++)); do
        case "$1" in
        keel)
            printf '#[derive(keel::Bounded, Clone, Copy, Debug)]\n#[bounded(1..=%d)]\npub struct B%d(u32);\n' $((i + 10)) "$i"
            printf '#[derive(keel::Compact, Clone, Debug, PartialEq)]\npub struct C%d { a: u32, #[bounded(0..=%d)] b: u16, c: bool }\n' "$i" $((i + 100))
            printf '#[keel::instrument]\npub fn f%d(x: u32) -> u32 { x.wrapping_mul(%d) }\n' "$i" $((i + 3))
            ;;
        bounded)
            printf '#[derive(keel::Bounded, Clone, Copy, Debug)]\n#[bounded(1..=%d)]\npub struct B%d(u32);\n' $((i + 10)) "$i"
            ;;
        keel_plain)
            printf '#[derive(Clone, Copy, Debug)]\npub struct B%d(u32);\n' "$i"
            printf '#[derive(Clone, Debug, PartialEq)]\npub struct C%d { a: u32, b: u16, c: bool }\n' "$i"
            printf 'pub fn f%d(x: u32) -> u32 { x.wrapping_mul(%d) }\n' "$i" $((i + 3))
            ;;
        nutype)
            printf '#[nutype::nutype(validate(greater_or_equal = 1, less_or_equal = %d), derive(Clone, Copy, Debug))]\npub struct B%d(u32);\n' $((i + 10)) "$i"
            ;;
        nutype_plain)
            printf '#[derive(Clone, Copy, Debug)]\npub struct B%d(u32);\n' "$i"
            ;;
        esac
    done
    echo 'fn main() {}'
}
crate expand_bounded "$keel_default" "$(many bounded)"
crate expand_bounded_plain "$keel_default" "$(many nutype_plain)"
crate expand_keel "$keel_full" "$(many keel)"
crate expand_keel_plain "$keel_full" "$(many keel_plain)"
crate expand_nutype "$nutype_dep" "$(many nutype)"
crate expand_nutype_plain "$nutype_dep" "$(many nutype_plain)"
# The expansion crates allow what the plain copies leave unused.
for c in expand_bounded expand_bounded_plain expand_keel expand_keel_plain expand_nutype expand_nutype_plain; do
    sed -i '1i #![allow(dead_code)]' "$work/$c/src/main.rs"
done

seconds() { # command... ; prints wall seconds
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>"$work/last.err" || { cat "$work/last.err" >&2; return 1; }
    end=$(date +%s.%N)
    calc "$end - $start"
}
calc() { awk "BEGIN { print $1 }"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# Fetch and resolve once, outside the timings.
for c in "$work"/*/; do (cd "$c" && cargo generate-lockfile -q && cargo fetch -q); done

declare -A times
clean_rows=(clean_nutype clean_keel clean_keel_full)
expand_rows=(expand_bounded expand_bounded_plain expand_nutype expand_nutype_plain expand_keel expand_keel_plain)
for c in "${expand_rows[@]}"; do (cd "$work/$c" && cargo check -q --target-dir "$work/target-$c"); done
for ((r = 1; r <= rounds; r++)); do
    for c in "${clean_rows[@]}"; do
        # `full` (reported, no target) is timed in the first round only: it takes minutes.
        if [ "$c" = clean_keel_full ] && [ "$r" -gt 1 ]; then continue; fi
        rm -rf "$work/target-$c"
        times[$c]+="$(cd "$work/$c" && seconds cargo build --target-dir "$work/target-$c") "
    done
    for c in "${expand_rows[@]}"; do
        touch "$work/$c/src/main.rs"
        times[$c]+="$(cd "$work/$c" && seconds cargo check --target-dir "$work/target-$c") "
    done
    echo "round $r of $rounds done" >&2
done

med() { tr ' ' '\n' <<<"${times[$1]}" | grep . | median; }
nut=$(med clean_nutype)
echo
echo "| crate (clean debug build, one validated struct) | seconds (median of $rounds; full: round 1) | vs nutype |"
echo "|---|---|---|"
for c in "${clean_rows[@]}"; do
    printf '| %s | %.1f | %.2fx |\n' "$c" "$(med "$c")" "$(calc "$(med "$c") / $nut")"
done
echo
bd=$(calc "($(med expand_bounded) - $(med expand_bounded_plain)) * 1000 / $n")
kd=$(calc "($(med expand_keel) - $(med expand_keel_plain)) * 1000 / $n")
nd=$(calc "($(med expand_nutype) - $(med expand_nutype_plain)) * 1000 / $n")
echo "| cargo check of the crate's own code | seconds (median of $rounds) |"
echo "|---|---|"
for c in "${expand_rows[@]}"; do printf '| %s | %.2f |\n' "$c" "$(med "$c")"; done
echo
printf 'per #[derive(Bounded)] newtype: %.2f ms; per #[nutype] newtype: %.2f ms (%.2fx)\n' "$bd" "$nd" "$(calc "$bd / $nd")"
printf 'per (Bounded + Compact + instrument) triple: %.2f ms\n' "$kd"
