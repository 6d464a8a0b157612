"""The one exception type of the target package.

Every user-facing problem with a target description (unknown name, bad fingerprint, malformed
arch.json, an impossible parameter) is a :class:`TargetError` whose message is a single line saying
what is wrong, where, and what to do about it.
"""

from __future__ import annotations


class TargetError(ValueError):
    """A target could not be identified, loaded or validated; the message is one line."""
