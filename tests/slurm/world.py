"""The Slurm tests' world: the generated users (alba, brisk, corvo), general text and tiny base of the
MPI tests (tests/mpi/common.py owns them), and a spec of 3 users x {none, norm, lora} x seeds with 5
eval texts: 1 + 6 * seeds jobs.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "mpi"))
import common as c  # noqa: E402

USERS = ("alba", "brisk", "corvo")


def write_spec(root, seeds, steps, name="spec.json"):
    return c.write_spec(root, name=name, users=list(USERS), seeds=seeds, train={"steps": steps, "batch": 4, "seq": 12})
