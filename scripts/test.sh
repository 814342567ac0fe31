#!/usr/bin/env bash
# Installs what is missing, builds sweep twice (warnings as errors; ASan+UBSan) and runs the tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/install-deps.sh
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
