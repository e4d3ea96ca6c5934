"""``python -m tests.conformance``: see :mod:`tests.conformance.runner`."""

from __future__ import annotations

import sys

from tests.conformance.runner import main

sys.exit(main())
