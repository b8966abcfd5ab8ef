"""Run Flask's own session and flashing tests with RivoSessions installed.

The yardstick for "a drop-in for Flask's session": every such test that
passes with Flask's signed-cookie session must pass with RivoSessions too.
It fetches the source release of the installed Flask from the package index
(the tests ship in it), runs the selected tests once as they are and once
with every ``Flask`` app given ``RivoSessions``, and fails if any test passes
the first way and not the second.

    python tests/flask_suite.py
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path

#: Tests about signing cookies with SECRET_KEY, meaningless for a random ID:
#: without a key Flask falls back to a null session, RivoSessions needs none.
EXCLUDED = {
    "test_missing_session",
    "test_session_secret_key_fallbacks",
    "test_session_transactions_no_null_sessions",
}
SELECTION = "session or flash"

#: Newer pytest dropped a private name that Flask's conftest imports.
SHIM = """
import _pytest.monkeypatch

if not hasattr(_pytest.monkeypatch, "notset"):
    _pytest.monkeypatch.notset = _pytest.monkeypatch.NOTSET
"""

PLUGIN = """
import flask
from flask.sessions import SecureCookieSessionInterface
from flask_rivo import RivoSessions

_init = flask.Flask.__init__

def _init_with_rivo(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    # An app that brings its own session interface keeps it.
    if type(self.session_interface) is SecureCookieSessionInterface:
        RivoSessions(self)

flask.Flask.__init__ = _init_with_rivo
"""


def run(tests: Path, plugin: bool, report: Path) -> dict[str, bool]:
    """Run the selection; map each test's id to whether it passed."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["-p", "pytest_shim"]
    command += [
        "--continue-on-collection-errors",
        "-k",
        SELECTION,
        f"--junitxml={report}",
        str(tests),
    ]
    if plugin:
        command[3:3] = ["-p", "rivo_everywhere"]
    env = {"PYTHONPATH": str(report.parent)}
    # The output goes to a log: with RivoSessions the excluded tests fail,
    # which is expected and would only be noise here.
    with (report.with_suffix(".log")).open("w") as log:
        subprocess.run(  # noqa: S603
            command, cwd=tests.parent, env=env, check=False, stdout=log, stderr=log
        )
    results = {}
    for case in ET.parse(report).iter("testcase"):  # noqa: S314 (our own report)
        name = f"{case.get('classname')}::{case.get('name')}"
        failed = any(c.tag in ("failure", "error") for c in case)
        skipped = any(c.tag == "skipped" for c in case)
        if not skipped:
            results[name] = not failed
    return results


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="flask-suite-"))
    flask_version = version("flask")
    subprocess.run(  # noqa: S603
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"flask=={flask_version}",
            "-d",
            str(work),
        ],
        check=True,
    )
    with tarfile.open(next(work.glob("flask-*.tar.gz"))) as archive:
        archive.extractall(work, filter="data")
    tests = next(work.glob("flask-*/tests"))
    (work / "rivo_everywhere.py").write_text(PLUGIN)
    (work / "pytest_shim.py").write_text(SHIM)
    baseline = run(tests, plugin=False, report=work / "baseline.xml")
    with_rivo = run(tests, plugin=True, report=work / "rivo.xml")
    considered = {
        name: passed
        for name, passed in baseline.items()
        if passed and name.rsplit("::", 1)[-1].split("[")[0] not in EXCLUDED
    }
    broken = sorted(name for name in considered if not with_rivo.get(name, False))
    print(
        f"Flask {flask_version}: {len(considered)} session and flashing tests"
        f" pass with Flask's cookie session; {len(considered) - len(broken)}"
        " of them pass with RivoSessions."
    )
    for name in broken:
        print(f"  broken by RivoSessions: {name}")
    if broken:
        print(f"Logs of both runs: {work}")
    return 1 if broken or not considered else 0


if __name__ == "__main__":
    sys.exit(main())
