"""``python -m dsar_pipeline.letter.check_profiles [id ...]``: check controller profiles against the
letter's schema and print every problem of each, so whoever edits a profile sees the whole list."""

from __future__ import annotations

import sys

from ..profiles import ProfileError, list_controllers
from .facts import load_facts


def main(argv: list[str]) -> int:
    failed = False
    for controller in argv or list_controllers():
        try:
            load_facts(controller)
        except ProfileError as exc:
            failed = True
            print(f"{controller}: {exc}")
        else:
            print(f"{controller}: ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
