"""Run CPython's own test modules (or single test cases) and record each case's outcome.

Usage: python cpython_cases.py OUT.jsonl [--in-pool DIR] NAME...

NAME is a module of CPython's test package (test_dict, or test.test_dict) or a test
id (test.test_threading.ThreadTests.test_various_ops). OUT.jsonl gets one JSON object
per line: {"start": ID} when a case starts, then {"id": ID, "outcome": O, "detail": TEXT}
with O one of passed, failed, error, skipped, expected failure, unexpected success, and
"rerun" the name that runs the case again. Lines are written as they happen, so when
the interpreter dies the last "start" without an outcome names the case it died in.

The exit status is 0 whatever the cases did (the caller compares outcomes), 1 when
--in-pool DIR is given and no file under DIR is mapped: the interpreter's heap must
already be in a pool file before the first test starts.

As `python -m test` does without -u, no optional resource (cpu, network, ...) is
enabled, so the same cases are skipped in every run.
"""
from __future__ import annotations

import faulthandler
import json
import re
import sys
import traceback
import unittest


def pool_mappings(pool_dir: str) -> int:
    prefix = pool_dir.rstrip("/") + "/"
    with open("/proc/self/maps") as f:
        fields = [line.split(maxsplit=5) for line in f]
    return sum(1 for f in fields if len(f) == 6 and f[5].startswith(prefix))


def rerun_name(test: unittest.TestCase) -> str:
    """What loads this case again: its id, or for a class or module fixture that
    failed ("setUpClass (test.test_x.Cls)") the class or module it belongs to."""
    if isinstance(test, unittest.TestCase):
        return test.id()
    m = re.search(r"\((.+)\)$", str(test))
    return m.group(1) if m else str(test)


class Recorder(unittest.TestResult):
    """Writes each case's outcome to a line of the output file as it finishes."""

    def __init__(self, out) -> None:
        super().__init__()
        self.out = out
        self.subtest_failures: list[str] = []   # of the case running
        self.recorded = True                    # the case running has its outcome line

    def _write(self, **fields: str) -> None:
        self.out.write(json.dumps(fields) + "\n")
        self.out.flush()

    def _record(self, test, outcome: str, detail: str = "") -> None:
        self.recorded = True
        self._write(id=test.id() if isinstance(test, unittest.TestCase) else str(test),
                    outcome=outcome, detail=detail, rerun=rerun_name(test))

    @staticmethod
    def _text(err) -> str:
        return "".join(traceback.format_exception(*err))

    def startTest(self, test) -> None:
        super().startTest(test)
        self.subtest_failures, self.recorded = [], False
        self._write(start=test.id())

    def stopTest(self, test) -> None:
        # a case whose subtests failed gets no addFailure/addSuccess of its own
        if not self.recorded:
            self._record(test, "failed" if self.subtest_failures else "error",
                         "\n".join(self.subtest_failures) or "no outcome reported")
        super().stopTest(test)

    def addSubTest(self, test, subtest, err) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.subtest_failures.append(f"{subtest}:\n{self._text(err)}")

    def addSuccess(self, test) -> None:
        super().addSuccess(test)
        self._record(test, "failed" if self.subtest_failures else "passed",
                     "\n".join(self.subtest_failures))

    def addFailure(self, test, err) -> None:
        super().addFailure(test, err)
        self._record(test, "failed", self._text(err))

    def addError(self, test, err) -> None:
        super().addError(test, err)
        self._record(test, "error", self._text(err))

    def addSkip(self, test, reason) -> None:
        super().addSkip(test, reason)
        self._record(test, "skipped", reason)

    def addExpectedFailure(self, test, err) -> None:
        super().addExpectedFailure(test, err)
        self._record(test, "expected failure")

    def addUnexpectedSuccess(self, test) -> None:
        super().addUnexpectedSuccess(test)
        self._record(test, "unexpected success")


def main(argv: list[str]) -> int:
    out_path, names = argv[0], argv[1:]
    if names[:1] == ["--in-pool"]:
        found = pool_mappings(names[1])
        print("pool mappings:", found, flush=True)
        if not found:
            print(f"expected the interpreter heap in a pool file under {names[1]}",
                  file=sys.stderr)
            return 1
        names = names[2:]
    faulthandler.enable()
    from test import support
    support.use_resources = []
    support.verbose = 0
    names = [n if n.startswith("test.") else "test." + n for n in names]
    suite = unittest.defaultTestLoader.loadTestsFromNames(names)
    with open(out_path, "w") as out:
        suite.run(Recorder(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
