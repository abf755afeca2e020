"""``python -m model``: the command-line interface (see model/cli.py)."""

import sys

from model.cli import main

sys.exit(main())
