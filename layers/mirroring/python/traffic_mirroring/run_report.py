"""What a run really did: the report model the executor fills and observability publishes.

Plain data at the level of the model, so the module that logs and counts a run (``observability``) and the use cases
that make one (``executor``, ``reconcile``) meet here instead of importing each other.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from traffic_mirroring.model import MirrorSession


@dataclass
class Outcome:
    """What applying a plan really did (it can differ from the plan: fallbacks, concurrent work, deadline)."""

    created: list[MirrorSession] = field(default_factory=list)
    deleted: Counter[str] = field(default_factory=Counter)  # by reason
    updated: int = 0
    options_changed: int = 0  # of the updated: packet length or VNI rolled over (by modify: the session kept)
    skipped: Counter[str] = field(default_factory=Counter)  # by reason
    rolled_back: int = 0
    statuses: dict[str, str] = field(default_factory=dict)  # instance → status tag written
    final_status: dict[str, str] = field(default_factory=dict)  # instance → its status after this run
    problems: dict[str, str] = field(default_factory=dict)  # instance → a problem AWS answered for it
    learned: dict[str, str] = field(default_factory=dict)  # instance type → AWS's verdict, learned by a create
    unconfirmed: list[str] = field(default_factory=list)  # creations a describe did not show (reconciler)
    unapplied: list[str] = field(default_factory=list)  # subjects left for the next run (deadline)
    applied: list[str] = field(default_factory=list)  # subjects applied, in order
