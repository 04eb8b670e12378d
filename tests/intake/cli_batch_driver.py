"""Run ``python -m dsar_pipeline.intake.commands`` for many argument lists, one forked process each.

Why: starting a fresh interpreter per hostile ticket costs ~0.3 s of imports (much more on a
busy machine). This driver is started ONCE as a subprocess, imports the CLI's dependencies, then
forks one child per case; each child runs the module exactly as ``python -m`` does
(``runpy.run_module(..., run_name="__main__")``) with its own stdout, stderr and exit status,
and an uncaught exception is reported the way the interpreter would (traceback on stderr,
status 1), so the test still sees what a user would see.

Usage: ``python cli_batch_driver.py JOBS.json RESULTS.json`` where JOBS maps a name to argv
(without the interpreter) and RESULTS receives ``{name: {"returncode", "stdout", "stderr"}}``.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import tempfile
from pathlib import Path

MODULE = "dsar_pipeline.intake.commands"


def _child(argv: list[str], out_path: str, err_path: str) -> None:
    out_fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    err_fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    code = 0
    try:
        sys.argv = [MODULE, *argv]
        runpy.run_module(MODULE, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _warm_up() -> None:
    """Import and initialise what every child would otherwise load again (validators, profiles,
    holiday tables). Not the CLI module itself: runpy would warn that it is already in
    ``sys.modules``, which is not what ``python -m`` prints."""
    import email_validator  # noqa: F401
    import holidays  # noqa: F401
    import phonenumbers

    from dsar_pipeline.identities.normalise import normalise_email, normalise_phone
    from dsar_pipeline.intake.deadlines import is_working_day
    from dsar_pipeline.intake.parse import parse_ticket  # noqa: F401
    from dsar_pipeline.profiles import list_controllers, load_profile
    from dsar_pipeline.signatures.verification import VerificationStatus  # noqa: F401

    for controller in list_controllers():
        load_profile(controller)
    normalise_email("warm.up@example.ee")
    normalise_phone("+37251234567")
    phonenumbers.parse("+37121234567", None)
    is_working_day(__import__("datetime").date.today(), "EE")


def main() -> int:
    jobs: dict[str, list[str]] = json.loads(Path(sys.argv[1]).read_text())
    _warm_up()
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, argv in jobs.items():
            out_path = os.path.join(folder, "out")
            err_path = os.path.join(folder, "err")
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(argv, out_path, err_path)
            _, status = os.waitpid(pid, 0)
            results[name] = {
                "returncode": os.waitstatus_to_exitcode(status),
                "stdout": Path(out_path).read_text(encoding="utf-8", errors="replace"),
                "stderr": Path(err_path).read_text(encoding="utf-8", errors="replace"),
            }
    Path(sys.argv[2]).write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
