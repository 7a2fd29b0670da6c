"""`--shard I/N`: every mailbox name belongs to exactly one shard, forever, and a bad shard is
refused."""

from __future__ import annotations

from collections import Counter

import pytest

from pop3_exporter.sharding import Shard, shard_of


def test_shards_partition_names_stably() -> None:
    names = [f"mailbox-{i}" for i in range(200)]
    shards = [Shard(i, 3) for i in range(3)]
    owners = [[s.index for s in shards if s.contains(n)] for n in names]
    assert all(len(o) == 1 for o in owners)
    assert Counter(o[0] for o in owners).keys() == {0, 1, 2}
    assert shard_of("family", 7) == shard_of("family", 7)
    assert shard_of("family", 2) == 1  # fixed forever: SHA-256, not Python's salted hash()


@pytest.mark.parametrize("text", ["2/2", "-1/2", "1", "a/b", "0/0"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"shard|I/N"):
        Shard.parse(text)
