"""Under CI=true a run of the GPU suite (``pytest -m gpu``) must count: it fails when no
test ran, or when a test skipped for a reason other than "this release is not affected"
(no CUDA, no FlashInfer, no SGLang ...), naming each such skip and its reason.
``SGLANG_SPEC_PATCHES_GPU_ALLOW_SKIPS=1`` accepts the skips (``ci/gpu-regress.sh
--allow-skips`` sets it). Other runs (``make test``, a local ``pytest``) are left alone:
there every GPU test skips with its reason.
"""

import os

import gpu_report

_rows: dict[str, dict] = {}
_problems: list[str] = []


def _enforced(config) -> bool:
    expr = (config.getoption("markexpr", "") or "").strip()
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    return in_ci and "gpu" in expr and "not gpu" not in expr and os.environ.get(gpu_report.ALLOW_SKIPS_ENV) != "1"


def pytest_runtest_logreport(report):
    test = report.nodeid.split("/")[-1].replace(".py::", "::")
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _rows[test] = {"test": test, "outcome": "skip", "detail": reason.removeprefix("Skipped: ")}
    elif report.failed:
        _rows[test] = {"test": test, "outcome": "fail", "detail": ""}
    elif report.when == "call":
        _rows.setdefault(test, {"test": test, "outcome": "pass", "detail": ""})


def pytest_sessionfinish(session, exitstatus):
    if not _enforced(session.config):
        return
    _problems[:] = gpu_report.problems(list(_rows.values()))
    if _problems and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if _problems:
        terminalreporter.section("GPU suite run does not count (CI=true)")
        for line in _problems:
            terminalreporter.write_line(line)
