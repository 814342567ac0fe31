"""eval.combos' ensemble through `sweep plan --json` (its "inputs" per combination job): each member's
ensemble holds k other users of the member's own group, never the member, all of the same base,
condition and seed; the k are the lowest other_score(the member's own job id, name) (sweeps/grid.c,
eval.others' score, recomputed here); raising k only adds members; listing the users in another order
draws the same members; without k every other user (of the group) is in; the plan costs an ensemble one
evaluation pass per member, and a combination's memory as an evaluation's beside the adapters it holds.

usage: /usr/bin/python3 test_ensemble_draw.py SWEEP TEST_SPEC"""
import json
import os
import subprocess
import sys

import spectest

sweep, test_spec = sys.argv[1:3]
work = spectest.fixtures(test_spec, "spec_ensemble.")
check = spectest.Checks()


N = 12
for i in range(N):
    d = os.path.join(work, "docs", "u%02d" % i)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "a.txt"), "w") as f:
        f.write(("user %d writes about thing %d. " % (i, i * 7)) * 40)
GROUPS = {"g1": ["u%02d" % i for i in range(0, 7)], "g2": ["u%02d" % i for i in range(7, N)]}


def plan(name, order, combos, train=None):
    spec = {"bases": {"fp": "base.sweep"}, "tokenizer": "tok.bpe", "data": "data",
            "users": [{"name": "u%02d" % i, "dir": "docs/u%02d" % i} for i in order],
            "formats": {"none": {}, "norm": {}}, "train": train or {"steps": 2}, "seeds": 2,
            "eval": {"users": "own", "slices": 1, "general": False, "slice_bytes": 256, "combos": combos}}
    with open(os.path.join(work, name + ".json"), "w") as f:
        json.dump(spec, f)
    r = subprocess.run([sweep, "plan", name + ".json", "--json"], cwd=work, capture_output=True, text=True)
    if r.returncode != 0:
        check(False, "%s: exit %d: %s" % (name, r.returncode, r.stderr.strip()))
        return []
    return json.loads(r.stdout)["jobs"]


def fnv1a64(b, h=0xcbf29ce484222325):
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def other_score(job_id, user):
    h = fnv1a64((job_id + "\nother=" + user).encode())
    h = ((h ^ (h >> 30)) * 0xbf58476d1ce4e5b9) & 0xFFFFFFFFFFFFFFFF
    h = ((h ^ (h >> 27)) * 0x94d049bb133111eb) & 0xFFFFFFFFFFFFFFFF
    return h ^ (h >> 31)


def members(jobs):
    """(label, member, seed) -> [(input user, seed, format)] in input order"""
    by_id = {j["id"]: j for j in jobs}
    out = {}
    for j in jobs:
        if "inputs" in j:
            out[(j["format"], j["train_user"], j["seed"])] = [(by_id[i]["train_user"], by_id[i]["seed"], by_id[i]["format"])
                                                              for i in j["inputs"]]
    return out


COMBOS = [{"ensemble": "norm", "k": 3, "groups": GROUPS, "label": "e3"},
          {"ensemble": "norm", "k": 4, "groups": GROUPS, "label": "e4"},
          {"ensemble": "norm", "label": "eall"},
          {"ensemble": "norm", "k": 1, "label": "e1"}]
jobs = plan("ens", range(N), COMBOS)
m = members(jobs)
own = {(j["train_user"], j["seed"]): j["id"] for j in jobs if j["format"] == "norm"}
group_of = {u: g for g, us in GROUPS.items() for u in us}
check(len(m) == 4 * N * 2, "4 ensembles x %d users x 2 seeds: %d combination jobs" % (N, len(m)))
for (label, user, seed), ins in m.items():
    users = [u for u, _, _ in ins]
    check(user not in users, "%s %s seed %s: the member's own adapter is not in its ensemble" % (label, user, seed))
    check(all(s == seed and f == "norm" for _, s, f in ins), "%s %s: inputs are norm jobs of seed %s" % (label, user, seed))
    check(users == sorted(users), "%s %s: inputs in user order: %s" % (label, user, users))
    pool = [v for v in group_of if v != user and (label in ("e1", "eall") or group_of[v] == group_of[user])]
    k = {"e3": 3, "e4": 4, "e1": 1, "eall": len(pool)}[label]
    want = sorted(sorted(pool, key=lambda v: (other_score(own[(user, seed)], v), v))[:k])
    check(users == want, "%s %s seed %s: drawn %s, the %d lowest scores are %s" % (label, user, seed, users, k, want))
for user, seed in own:
    e3 = {u for u, _, _ in m[("e3", user, seed)]}
    e4 = {u for u, _, _ in m[("e4", user, seed)]}
    check(e3 < e4, "%s seed %s: raising k from 3 to 4 only adds a member" % (user, seed))
check(len({frozenset(u for u, _, _ in ins) for (l, _, _), ins in m.items() if l == "e3"}) > N // 2,
      "members draw different users")
flops = {(j["format"], j["train_user"], j["seed"]): j["est_flops"] for j in jobs if "inputs" in j}
check(all(abs(flops[("e4", u, s)] / flops[("e1", u, s)] - 4) < 1e-9 for u, s in own), "an ensemble of 4 costs 4 evaluations")
# memory: a combination trains nothing, so its estimate is one evaluation's beside the adapters it
# holds (one mean for an average, K member blocks for an ensemble), below the training job's (batch 64:
# on this tiny base training's activations then outweigh an evaluation's)
mem_jobs = plan("mem", range(N), [{"average": "norm", "label": "avg"}, {"ensemble": "norm", "k": 1, "label": "e1"},
                                  {"ensemble": "norm", "k": 4, "label": "e4"}], {"steps": 2, "batch": 64})
est = {}
for j in mem_jobs:
    est.setdefault(j["format"], []).append(j["est_mem_bytes"])
if {"none", "norm", "avg", "e1", "e4"} <= set(est):
    trained, none = min(est["norm"]), max(est["none"])
    for label in ("avg", "e1", "e4"):
        check(max(est[label]) < trained, "%s: estimated %d bytes, below a trained norm job's %d" % (label, max(est[label]), trained))
        check(min(est[label]) >= none, "%s: estimated %d bytes, at least the none job's %d" % (label, min(est[label]), none))
    check(min(est["e4"]) > max(est["e1"]), "an ensemble of 4 holds more than one of 1")
else:
    check(False, "plan mem: formats %s" % sorted(est))
# another order of the users: the same members (the ids of combinations hash their inputs in user order)
rev = members(plan("rev", reversed(range(N)), COMBOS))
check(all(sorted(rev[key]) == sorted(ins) for key, ins in m.items()), "listing the users in reverse draws the same members")

check.finish("ensemble_draw")
