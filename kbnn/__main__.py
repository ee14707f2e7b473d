"""``python -m kbnn`` is the ``kbnn`` command line."""

import sys

from kbnn.cli import main

sys.exit(main())
