#!/usr/bin/env bash
# Installs what is missing, builds sweep twice (warnings as errors; ASan+UBSan) and runs the tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/install-deps.sh --test
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
jobs=$(nproc)

echo "== build (Release, -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSWEEP_WERROR=ON > build-configure.log
cmake --build build -j"$jobs"
echo "== tests"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== build (AddressSanitizer + UndefinedBehaviorSanitizer)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSWEEP_WERROR=ON -DSWEEP_SANITIZE=ON > build-asan-configure.log
cmake --build build-asan -j"$jobs"
echo "== unit tests under sanitizers"
ASAN_OPTIONS=detect_leaks=0 ctest --test-dir build-asan --output-on-failure -L unit -j"$jobs"

echo "== fuzz targets (libFuzzer + ASan + UBSan), a short run each"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSWEEP_FUZZ=ON > build-fuzz-configure.log
cmake --build build-fuzz -j"$jobs" --target fuzz_targets
seeds=build-fuzz/seeds
rm -rf "$seeds" && mkdir -p "$seeds"/{spec,journal,runstate,tokenizer}
build-fuzz/tests/fuzz/make_fuzz_seeds "$seeds"
cp sweeps/*.json tests/spec/*.json "$seeds/spec/"
cp tests/fuzz/seeds/journal/* "$seeds/journal/"    # from a real run: tests/fuzz/make_journal_seeds.py
cp tests/fuzz/seeds/runstate/* "$seeds/runstate/"
cp tests/tokenizer/fuzz-seeds/* "$seeds/tokenizer/"
fuzz_seconds=${SWEEP_FUZZ_SECONDS:-20}
for target in build-fuzz/tests/fuzz/fuzz_*; do
  name=$(basename "$target"); corpus="$seeds/${name#fuzz_}"
  mkdir -p "$corpus"
  echo "-- $name for ${fuzz_seconds}s"
  "$target" -max_total_time="$fuzz_seconds" -print_final_stats=0 "$corpus" > "build-fuzz/$name.log" 2>&1 \
    || { tail -40 "build-fuzz/$name.log"; echo "$name found a crash"; exit 1; }
done
