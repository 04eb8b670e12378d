"""`python -m sandbox …` is `dsar sandbox …` without the pipeline's entry point."""

import sys

from sandbox.cli import main

sys.exit(main())
