"""``python -m paper_checks``: the same as the ``theorycheck`` command."""

import sys

from .cli import main

if __name__ == "__main__":  # not when a spawned sweep worker imports this module
    sys.exit(main())
