#!/usr/bin/env bash
# `sweep plan` at the command line: every bad spec in this folder exits 2 with exactly its .err line on
# stderr and nothing on stdout; every bundled spec plans from the repository root (fixtures not needed
# with --no-check), as text and as JSON that parses, and the JSON agrees with the text.
# usage: run.sh SWEEP TEST_SPEC (test_spec writes the fixture tree the bad specs refer to)
set -u
sweep=$1 test_spec=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/spec_cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$test_spec" --fixtures "$work" || { echo "cannot write fixtures"; exit 1; }
failed=0 passed=0
fail() { echo "FAIL $*"; failed=$((failed + 1)); }

for spec in "$here"/*.json; do
    name=$(basename "$spec")
    cp "$spec" "$work/$name"
    (cd "$work" && "$sweep" plan "$name" > out.txt 2> err.txt; echo $? > rc.txt)
    rc=$(cat "$work/rc.txt")
    want=$(cat "${spec%.json}.err")
    got=$(cat "$work/err.txt")
    if [ "$rc" != 2 ]; then fail "$name: exit $rc, expected 2"
    elif [ "$got" != "$want" ]; then fail "$name: stderr"; echo "  got      $got"; echo "  expected $want"
    elif [ -s "$work/out.txt" ]; then fail "$name: printed on stdout"
    else passed=$((passed + 1)); fi
done

cd "$root"
n=0
for spec in sweeps/*.json; do
    n=$((n + 1))
    if ! "$sweep" plan "$spec" --no-check --ranks 4 > "$work/plan$n.txt" 2> "$work/err.txt"; then
        fail "$spec: $(cat "$work/err.txt")"; continue
    fi
    "$sweep" plan "$spec" --no-check --ranks 4 --json > "$work/plan$n.json" || fail "$spec --json"
done
# the job count in the JSON is the one the text prints, ids are unique, and the simulated schedule is
# one: no rank runs two jobs at once, and the last job ends at the wall time
if /usr/bin/python3 - "$work" "$n" <<'PY'
import json, re, sys
work, n = sys.argv[1], int(sys.argv[2])
for k in range(1, n + 1):
    plan = json.load(open(f"{work}/plan{k}.json"))
    text = open(f"{work}/plan{k}.txt").read()
    jobs = int(re.search(r"^jobs: (\d+)", text, re.M).group(1))
    assert jobs == plan["n_jobs"] == len(plan["jobs"]), (plan["spec"], jobs, plan["n_jobs"])
    assert len({j["id"] for j in plan["jobs"]}) == jobs, plan["spec"] + ": ids not unique"
    assert sum(len(j["eval_text"]) for j in plan["jobs"]) == plan["n_cells"], plan["spec"]
    ends = {}
    for j in sorted(plan["jobs"], key=lambda j: j["sim_start"]):
        r = j["sim_rank"]
        assert j["sim_start"] >= ends.get(r, 0) - 1e-9 * max(1, plan["wall_seconds"]), plan["spec"] + ": overlap"
        ends[r] = j["sim_start"] + j["est_seconds"]
    assert abs(max(ends.values()) - plan["wall_seconds"]) <= 1e-9 * plan["wall_seconds"], plan["spec"]
    assert len(ends) <= plan["ranks"], plan["spec"]
PY
then passed=$((passed + n)); else fail "bundled specs: JSON"; fi

# arguments
"$sweep" plan sweeps/demo.json --ranks 0 > /dev/null 2>&1; [ $? = 2 ] && passed=$((passed + 1)) || fail "--ranks 0"
"$sweep" plan sweeps/demo.json --bogus > /dev/null 2>&1; [ $? = 2 ] && passed=$((passed + 1)) || fail "--bogus"
"$sweep" plan "$work/none.json" > /dev/null 2> "$work/err.txt"; rc=$?
[ $rc = 2 ] && grep -q "none.json: cannot read" "$work/err.txt" && passed=$((passed + 1)) || fail "missing spec file"
"$sweep" plan --help | grep -q "usage: sweep plan" && passed=$((passed + 1)) || fail "--help"

echo "spec_cli: $passed passed, $failed failed"
[ $failed = 0 ]
