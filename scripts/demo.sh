#!/usr/bin/env bash
# The main job: installs what is missing, builds sweep, builds the user fixtures from Debian packages
# (once; about 5 minutes), runs the demo sweep (sweeps/demo.json) on two ranks with the bundled base,
# and prints its report.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/install-deps.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ranks=${SWEEP_RANKS:-$(nproc)}

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > build-configure.log
cmake --build build -j"$(nproc)"

if [ ! -f fixtures/data/manifest.json ]; then
  echo "== building the user fixtures from Debian packages (fixtures/data)"
  build/sweep fixtures --data fixtures/data
fi

echo "== sweep run sweeps/demo.json on $ranks ranks"
mkdir -p runs
status=0
mpirun -np "$ranks" --oversubscribe build/sweep run sweeps/demo.json -o runs/demo.h5 || status=$?
build/sweep report runs/demo.h5
exit $status
