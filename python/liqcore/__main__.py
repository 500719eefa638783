"""``python -m liqcore``: the command line (see :mod:`liqcore.cli`)."""

import sys

from liqcore.cli import main

sys.exit(main())
