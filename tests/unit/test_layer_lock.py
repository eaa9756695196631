"""The layer's lock agrees with its input and with the environment the tests run on."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
from packaging.requirements import Requirement

from infra.requirements import (
    LAYER_LOCK,
    LAYER_REQUIREMENTS,
    input_digest,
    normalize,
    pins,
    recorded_digest,
)

LOCK = LAYER_LOCK.read_text()


def test_lock_was_compiled_from_the_current_requirements() -> None:
    assert recorded_digest(LOCK) == input_digest(LAYER_REQUIREMENTS.read_text()), (
        "requirements.txt changed since the lock was compiled: run `make requirements`"
    )


def test_every_requirement_is_pinned_within_its_range() -> None:
    locked = pins(LOCK)
    for line in LAYER_REQUIREMENTS.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        requirement = Requirement(line)
        name = normalize(requirement.name)
        assert name in locked, f"{name} is not in the lock: run `make requirements`"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"the lock pins {name}=={locked[name]}, outside {requirement.specifier}"
        )


def test_every_pin_carries_hashes() -> None:
    hashed = re.findall(r"^\S+==\S+(?: \\\n\s+--hash=sha256:[0-9a-f]{64})+", LOCK, re.MULTILINE)
    assert len(hashed) == len(pins(LOCK)) > 30, "a pin without --hash: run `make requirements`"


@pytest.mark.parametrize("distribution", ["pillow", "pydantic-core", "botocore"])
def test_tests_run_on_the_locked_version(distribution: str) -> None:
    # The libwebp paths of aiimage.imaging meet exactly the Pillow they were tested against.
    assert version(distribution) == pins(LOCK)[distribution], (
        f"the tests run {distribution} {version(distribution)} but the layer ships "
        f"{pins(LOCK)[distribution]}: `make install` or `make requirements`"
    )
