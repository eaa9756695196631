"""`backfill-storage` downloads a provider's output only from the hosts that provider's own
client downloads from: the allow-list comes from the client, not a second copy of it."""

from __future__ import annotations

import pytest

from aiimage.ops.backfill import allowed_output_hosts


@pytest.mark.parametrize(
    ("provider", "hosts"),
    [
        ("runware", {"runware.ai", "api.runware.ai"}),
        ("replicate", {"replicate.delivery", "api.replicate.com"}),
        ("fake", set()),  # answers with the image itself: nothing to download
    ],
)
def test_backfill_fetches_only_from_the_providers_own_output_hosts(
    provider: str, hosts: set[str]
) -> None:
    assert allowed_output_hosts(provider) == hosts
