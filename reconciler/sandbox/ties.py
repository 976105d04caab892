"""A listing's order as the real server's database gives it: ties broken anew each time.

PostgreSQL orders rows with equal sort keys arbitrarily, and differently from one page
request to the next (``ORDER BY key LIMIT 15 OFFSET n``, no tie-breaker). A ``Listing``
holds the ids in sort order and where each group of equal keys ends; a page that falls in
a group gets a random few of that group.
"""

from __future__ import annotations

import bisect
import random
from array import array


class Listing:
    """A listing's ids in sort order, and where each group of equal sort keys ends."""

    __slots__ = ("group_ends", "ids")

    def __init__(self, ids: array[int], group_ends: list[int]) -> None:
        self.ids = ids
        self.group_ends = group_ends  # ascending; the last is len(ids)

    def window(self, start: int, stop: int, chance: random.Random) -> list[int]:
        """Positions ``start`` to ``stop``: within a group of ties, any of its members."""
        chosen: list[int] = []
        group = bisect.bisect_right(self.group_ends, start)
        while start < stop and group < len(self.group_ends):
            group_start = self.group_ends[group - 1] if group else 0
            group_end = self.group_ends[group]
            count = min(stop, group_end) - start
            members = self.ids[group_start:group_end]
            if len(members) == 1:
                chosen.append(members[0])
            else:
                chosen.extend(chance.sample(list(members), count))
            start += count
            group += 1
        return chosen
