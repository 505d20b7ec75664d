"""Pilots: a stable, per-rule assignment of members to a treatment share or a control group.

A member's bucket for a rule is the first 8 bytes of ``sha256("<rule id>:<member id>")`` modulo
10,000, so it never changes between evaluations, processes or machines, and buckets of different
rules are independent. A member is in the pilot when ``bucket < share_percent * 100``.
"""

from __future__ import annotations

import hashlib

BUCKETS = 10_000


def bucket(rule_id: str, member_id: str) -> int:
    """The member's stable bucket 0..9999 for ``rule_id``."""
    digest = hashlib.sha256(f"{rule_id}:{member_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_share(rule_id: str, member_id: str, share_buckets: int) -> bool:
    """Whether the member falls in the first ``share_buckets`` of 10,000 for this rule."""
    return bucket(rule_id, member_id) < share_buckets
