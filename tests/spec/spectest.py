"""What the spec tests (tests/spec/test_*.py) share: test_spec's fixtures world in a fresh folder, and
one way to count checks and end with the status ctest reads."""
import subprocess
import sys
import tempfile


def fixtures(test_spec, prefix):
    """A new folder holding test_spec's fixtures (base.sweep, tok.bpe, data/)."""
    work = tempfile.mkdtemp(prefix=prefix)
    subprocess.run([test_spec, "--fixtures", work], check=True, capture_output=True)
    return work


class Checks:
    """check(cond, what) counts a pass or prints FAIL: what; finish(name) prints the count and exits 1
    on any failure."""

    def __init__(self):
        self.passed, self.failed = 0, []

    def __call__(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.fail(what)

    def fail(self, what):
        self.failed.append(what)
        print("FAIL:", what, flush=True)

    def finish(self, name):
        print("%s: %d passed, %d failed" % (name, self.passed, len(self.failed)))
        sys.exit(1 if self.failed else 0)
