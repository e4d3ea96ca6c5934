"""``python -m snapd_client``: the ``snapd`` command, client commands included."""

import sys

from snapd_client.entry import main

sys.exit(main())
