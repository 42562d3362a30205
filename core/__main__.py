"""``python -m core`` runs the ``orchestra`` command line."""

import sys

from core.cli import main

sys.exit(main())
