"""``python -m model``: the command-line interface (see model/cli.py)."""

import sys

from .cli import main

sys.exit(main())
