"""Protocol conformance suite: drives any snapd server command over stdio and checks protocol.md.

It reads only ``protocol.schema.json`` (never the daemon's code). Run it as pytest tests
(``tests/conformance/test_conformance.py``) or as ``python -m tests.conformance``; see README.md.
"""
