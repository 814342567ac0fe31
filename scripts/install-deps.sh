#!/usr/bin/env bash
# Installs what sweep needs to build, test and run on Debian 12 (run as root). Safe to rerun.
set -euo pipefail
packages=(
  build-essential cmake pkg-config git
  libopenblas-dev libopenmpi-dev openmpi-bin libhdf5-dev hdf5-tools libcjson-dev libpcre2-dev libdnnl-dev
  clang libclang-rt-14-dev chromium
  python3 python3-numpy python3-torch python3-h5py python3-pandas python3-xarray python3-h5netcdf
  # Slurm and the virtual cluster of the slurm and cluster tests (scripts/vcluster.sh: ip, nsenter, unshare)
  slurm-wlm munge iproute2 util-linux
)
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
