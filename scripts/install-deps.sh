#!/usr/bin/env bash
# Installs what sweep needs on Debian 12 (run as root). Safe to rerun.
#   install-deps.sh          what the main job (scripts/demo.sh) needs: build and run sweep, build the fixtures
#   install-deps.sh --test   that and what only the tests use (scripts/test.sh): PyTorch, h5py, pandas,
#                            xarray, chromium, clang and its sanitizer runtime, hdf5-tools
#   --list                   print the packages instead of installing them (scripts/deps-size.sh)
# The main job's set is about 400 MB of downloads and 1.7 GB installed smaller than the tests'
# (scripts/deps-size.sh measures it with apt's resolver).
set -euo pipefail
runtime=(
  build-essential cmake pkg-config git
  libopenblas-dev libopenmpi-dev openmpi-bin libhdf5-dev libcjson-dev libpcre2-dev libdnnl-dev
  python3 groff-base perl   # sweep fixtures: fixtures/build_corpora.py (standard library), groff, pod2text
)
test_only=(
  hdf5-tools clang libclang-rt-14-dev chromium
  python3-numpy python3-torch python3-h5py python3-pandas python3-xarray python3-h5netcdf
  # Slurm and the virtual cluster of the slurm and cluster tests (scripts/vcluster.sh: ip, nsenter, unshare)
  slurm-wlm munge iproute2 util-linux
)
packages=("${runtime[@]}") list=0
for a in "$@"; do
  case $a in
    --test) packages+=("${test_only[@]}") ;;
    --list) list=1 ;;
    *) echo "install-deps.sh: unknown option $a (--test, --list)" >&2; exit 2 ;;
  esac
done
if ((list)); then printf '%s\n' "${packages[@]}"; exit 0; fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
