"""Capture: what a snapshot stores, and the walk that stores it.

The one exclusion predicate is :class:`~snapd.capture.policy.Policy`: rules tried in order
(:mod:`~snapd.capture.rules`, :mod:`~snapd.capture.generated`, with .gitattributes read by
:mod:`~snapd.capture.attributes`), each answering with a :class:`~snapd.capture.decision.Decision`.
The policy modules know nothing of the store; the walk (:mod:`~snapd.capture.walk`), the stat
cache (:mod:`~snapd.capture.statcache`) and the new-files budget (:mod:`~snapd.capture.budget`)
write what the policy keeps into it.
"""
