"""``python -m snapd``: the same as the ``snapd`` command."""

import sys

from snapd.cli import main

sys.exit(main())
