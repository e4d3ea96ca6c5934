"""``python -m snapd``: the daemon (``--stdio``, ``--version``, ...); it never imports the client.

The ``snapd`` console script adds the client commands (``snapd log``, ...): see
``snapd_client.entry`` (``python -m snapd_client``).
"""

import sys

from snapd.cli import main

sys.exit(main())
