#!/usr/bin/env bash
# What the main job's packages (install-deps.sh) and the tests' (install-deps.sh --test) cost on a fresh
# Debian 12: apt's own resolver (apt-get install --simulate --no-install-recommends) against an empty
# dpkg status, then download and installed sizes from apt-cache, leaving out packages of priority
# required or important (every Debian install has them). Needs apt lists (apt-get update); installs nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/deps-size.XXXXXX)
trap 'rm -rf "$work"' EXIT
: > "$work/status"
resolve() {
  apt-get install --simulate --no-install-recommends -o Dir::State::status="$work/status" "$@" 2>/dev/null |
    awk '/^Inst /{print $2}' | sort -u
}
resolve $(bash "$here/install-deps.sh" --list) > "$work/main"
resolve $(bash "$here/install-deps.sh" --list --test) > "$work/test"
comm -13 "$work/main" "$work/test" > "$work/added"
for set in main test added; do
  apt-cache show --no-all-versions $(cat "$work/$set") 2>/dev/null | awk -v set=$set '
    /^Priority: /{pr=$2} /^Size: /{s=$2} /^Installed-Size: /{i=$2}
    /^$/{ if (pr != "required" && pr != "important") { n++; d += s; t += i * 1024 } }
    END { printf "%-6s %4d packages, download %5.0f MB, installed %5.0f MB\n", set, n, d / 1e6, t / 1e6 }'
done
