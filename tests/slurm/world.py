"""A small world for the Slurm tests: generated users and general text, a tiny base, a spec.

Text is deterministic (random.Random with fixed seeds): each user writes from its own syllables and
punctuation, so adapters have something to learn; the general text mixes all users.
"""
import json
import os
import random
import subprocess

USERS = {
    "ash":   ("ka lo mi ne ru ta so", "."),
    "birch": ("def ret urn self if else for", ":"),
    "cedar": ("ux zy qo vex pli dra mun", ";"),
}


def user_text(name, seed, nbytes):
    syllables, punct = USERS[name]
    syllables = syllables.split()
    rng = random.Random("%s/%d" % (name, seed))
    lines, size = [], 0
    while size < nbytes:
        words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 3)))
                 for _ in range(rng.randint(4, 12))]
        line = " ".join(words) + punct + "\n"
        lines.append(line)
        size += len(line)
    return "".join(lines)[:nbytes]


def general_text(seed, nbytes):
    rng = random.Random("general/%d" % seed)
    names = sorted(USERS)
    parts, size, k = [], 0, 0
    while size < nbytes:
        part = user_text(names[rng.randrange(len(names))], seed * 1000 + k, 600)
        parts.append(part)
        size += len(part)
        k += 1
    return "".join(parts)[:nbytes]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def make_data(root):
    """DATA/general/{train,eval}.txt and DATA/users/<u>/{train,eval-1,eval-2}.txt."""
    data = os.path.join(root, "data")
    write(os.path.join(data, "general", "train.txt"), general_text(1, 40000))
    write(os.path.join(data, "general", "eval.txt"), general_text(2, 2000))
    for i, u in enumerate(sorted(USERS)):
        write(os.path.join(data, "users", u, "train.txt"), user_text(u, 10 + i, 6000))
        for s in (1, 2):
            write(os.path.join(data, "users", u, "eval-%d.txt" % s), user_text(u, 100 + 10 * i + s, 1500))
    return data


def make_base(sweep, root, env):
    base = os.path.join(root, "base")
    subprocess.run([sweep, "pretrain", "--config", "tiny", "--vocab", "400", "--steps", "20", "--batch", "4",
                    "--seq", "12", "--warmup", "2", "--data", os.path.join(root, "data"), "-o", base],
                   env=env, check=True, capture_output=True, text=True, timeout=300)
    return base


def write_spec(root, seeds, steps, name="spec.json"):
    """3 users x {none, norm, lora} x seeds x 5 eval texts: 1 + 6 * seeds jobs."""
    spec = {
        "protocol": "custom",
        "output": "out/results.h5",
        "bases": {"fp": "base/base.sweep"},
        "tokenizer": "base/tokenizer.bpe",
        "data": "data",
        "users": sorted(USERS),
        "formats": {"none": {}, "norm": {"lr": 1e-2}, "lora": {"rank": 2, "alpha": 4, "lr": 1e-3}},
        "train": {"steps": steps, "batch": 4, "seq": 12},
        "seeds": seeds,
        "eval": {"users": "all", "slices": 2, "general": True, "tokens": 200},
        "max_attempts": 2,
    }
    path = os.path.join(root, name)
    with open(path, "w") as f:
        json.dump(spec, f, indent=1)
    return path
