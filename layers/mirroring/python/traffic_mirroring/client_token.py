"""The ClientToken of a create: the same inputs make the same token, so a replayed request gets the same session.

Which inputs go into it (ENI, instance, mirror generation, session number, attempt) is the executor's argument; this
module only hashes them into the form EC2 accepts.
"""

from __future__ import annotations

import hashlib


def client_token(*parts: object) -> str:
    """A ClientToken derived from the inputs of a create (≤ 64 ASCII characters, as EC2 requires)."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:64]
