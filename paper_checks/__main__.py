"""``python -m paper_checks``: the same as the ``theorycheck`` command."""

import sys

from .cli import main

sys.exit(main())
