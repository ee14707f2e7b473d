"""``python -m kbnn_runtime`` = ``kbnn-run``."""

import sys

from kbnn_runtime.cli import main

sys.exit(main())
