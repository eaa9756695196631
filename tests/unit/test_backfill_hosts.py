"""`backfill-storage` downloads a provider's output only under the policy that provider's
own client downloads with: the allow-list comes from the client, not a second copy of it."""

from __future__ import annotations

import pytest

from aiimage.ops.backfill import output_policy
from aiimage.origins import Origin


@pytest.mark.parametrize(
    ("provider", "origins"),
    [
        (
            "runware",
            {"https://runware.ai:443", "https://*.runware.ai:443", "https://api.runware.ai:443"},
        ),
        (
            "replicate",
            {
                "https://replicate.delivery:443",
                "https://*.replicate.delivery:443",
                "https://api.replicate.com:443",
            },
        ),
        ("fake", set()),  # answers with the image itself: nothing to download
    ],
)
def test_backfill_fetches_only_from_the_providers_own_output_origins(
    provider: str, origins: set[str]
) -> None:
    assert {str(origin) for origin in output_policy(provider).origins} == origins


def test_the_policy_is_the_clients_own() -> None:
    from aiimage.providers import registry

    assert output_policy("replicate") is registry.replicate().outputs
    assert Origin.parse("https://replicate.delivery") in output_policy("replicate").origins
