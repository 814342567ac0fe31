"""The spec field eval.others (sampled confusion designs) through `sweep plan --json`: each trained job
evaluates its own user's slices plus the slices of eval.others other users, drawn from the job id and the
users' names (never ranks or order); the none job still evaluates every text. Raising K only adds users to
each job's draw; adding users keeps every job id and each job's draw, except that a new user may take
one drawn place by scoring lower; listing the users in another order changes nothing. The job ids never
depend on eval.others. "all" with others is refused (tests/spec/others_with_all.json).

usage: /usr/bin/python3 test_others.py SWEEP TEST_SPEC"""
import json
import os
import subprocess
import sys

import spectest

sweep, test_spec = sys.argv[1:3]
work = spectest.fixtures(test_spec, "spec_others.")
check = spectest.Checks()


N = 12
for i in range(N + 1):
    d = os.path.join(work, "docs", "u%02d" % i)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "a.txt"), "w") as f:
        f.write(("user %d writes about thing %d. " % (i, i * 7)) * 40)


def plan(name, users, others, seeds=2):
    ev = {"users": "own", "slices": 1, "general": False, "slice_bytes": 256}
    if others is not None:
        ev["others"] = others
    spec = {"bases": {"fp": "base.sweep"}, "tokenizer": "tok.bpe", "data": "data",
            "users": [{"name": "u%02d" % i, "dir": "docs/u%02d" % i} for i in users],
            "formats": {"none": {}, "norm": {}}, "train": {"steps": 2}, "seeds": seeds, "eval": ev}
    with open(os.path.join(work, name + ".json"), "w") as f:
        json.dump(spec, f)
    r = subprocess.run([sweep, "plan", name + ".json", "--json"], cwd=work, capture_output=True, text=True)
    if r.returncode != 0:
        check(False, "%s: exit %d: %s" % (name, r.returncode, r.stderr.strip()))
        return {}
    return {j["id"]: (j["train_user"], set(j["eval_text"])) for j in json.loads(r.stdout)["jobs"]}


def drawn(job):
    user, texts = job
    return {t.split("/")[0] for t in texts} - {user}


base = plan("k0", range(N), None)
k3 = plan("k3", range(N), 3)
k5 = plan("k5", range(N), 5)
check(set(base) == set(k3) == set(k5), "eval.others changes no job id")
trained = [i for i, (u, _) in k3.items() if u is not None]
none = [i for i, (u, _) in k3.items() if u is None]
check(len(trained) == 2 * N and len(none) == 1, "%d trained jobs and one none job" % len(trained))
check(len(k3[none[0]][1]) == N, "the none job evaluates every user's text")
for i in trained:
    u, texts = k3[i]
    check("%s/eval-1" % u in texts and len(drawn(k3[i])) == 3, "K=3: job %s has its own text and 3 others: %s" % (i, texts))
    check(drawn(k3[i]) <= drawn(k5[i]) and len(drawn(k5[i])) == 5, "raising K to 5 only adds users to job %s" % i)
    check(drawn(base[i]) == set(), "without eval.others job %s evaluates its own text only" % i)
check(len({frozenset(drawn(k3[i])) for i in trained}) > N // 2, "jobs draw different users")
# the two seeds of one user draw apart: the draw follows the job, not the user
per_user = {}
for i in trained:
    per_user.setdefault(k3[i][0], []).append(frozenset(drawn(k3[i])))
check(any(len(set(v)) > 1 for v in per_user.values()), "a user's jobs of two seeds draw differently")
# adding a user: ids kept, each draw kept unless the new user scored into it
more = plan("more", range(N + 1), 3)
new = "u%02d" % N
for i in trained:
    check(i in more, "adding a user keeps job %s" % i)
    if i not in more:
        continue
    old, now = drawn(k3[i]), drawn(more[i])
    check(now == old or (new in now and len(old - now) == 1 and len(now) == 3),
          "adding a user: job %s draws %s, before %s" % (i, sorted(now), sorted(old)))
# the users' order in the spec changes nothing
rev = plan("rev", reversed(range(N)), 3)
check(all(rev.get(i, (None, None))[1] == k3[i][1] for i in k3), "listing the users in reverse order keeps every draw")
# K beyond the other users: every other user
big = plan("big", range(N), 1000)
check(all(len(drawn(big[i])) == N - 1 for i in trained), "K above the number of others draws them all")
# the draw spreads: 200 users, K = 5: a user no job draws is rare (about 200 e^-5, 1.3 expected)
for i in range(N + 1, 200):
    d = os.path.join(work, "docs", "u%02d" % i)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "a.txt"), "w") as f:
        f.write(("user %d writes about thing %d. " % (i, i * 7)) * 40)
wide = plan("wide", range(200), 5, seeds=1)
hit = set()
for i, job in wide.items():
    if job[0] is not None:
        hit |= drawn(job)
check(200 - len(hit) <= 8, "200 users, K=5: %d users never drawn (about 1.3 expected)" % (200 - len(hit)))
check.finish("spec others")
