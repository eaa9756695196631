"""`include_prompt_in_manifest`, the event policy's choice to put the final prompt in each
result's C2PA manifest: off by default (a guest's words are personal data), set with the
`event-policy` lever like the other fields, in the event's one conditional write (its
revision), keeping the rest of the policy."""

from __future__ import annotations

import pytest

from aiimage.edits.catalog_store import catalog
from aiimage.edits.models import EventAiEditing
from aiimage.imaging import provenance
from aiimage.imaging.provenance import Original, Provenance
from aiimage.ops import cli
from infra.seed_edits import DemoCatalog, seed_demo
from tests.conftest import TEST_ENV

pytestmark = pytest.mark.usefixtures("aws_stack")


@pytest.fixture
def demo() -> DemoCatalog:
    return seed_demo(bucket=TEST_ENV["IMAGES_BUCKET"])


def revision(demo: DemoCatalog) -> int:
    item = catalog()._get(f"tenant#{demo.tenant_id}", f"event#{demo.event_slug}", consistent=True)
    assert item is not None
    return int(item["revision"]["N"]) if "revision" in item else 0


def test_the_prompt_is_left_out_by_default() -> None:
    assert EventAiEditing().include_prompt_in_manifest is False
    assert EventAiEditing.model_validate({}).include_prompt_in_manifest is False


def test_the_event_policy_lever_sets_it_and_keeps_the_rest(demo: DemoCatalog) -> None:
    slug = demo.event_slug
    before = catalog().get_event(demo.tenant_id, slug).ai_editing
    start = revision(demo)
    assert cli.main(["event-policy", demo.tenant_id, slug, "--prompt-in-manifest"]) == 0
    after = catalog().get_event(demo.tenant_id, slug).ai_editing
    assert after.include_prompt_in_manifest is True
    assert after.model_copy(update={"include_prompt_in_manifest": False}) == before
    assert revision(demo) == start + 1  # one conditional write of the event
    assert catalog().event_by_token(demo.join_token).ai_editing.include_prompt_in_manifest
    assert cli.main(["event-policy", demo.tenant_id, slug, "--no-prompt-in-manifest"]) == 0
    assert catalog().get_event(demo.tenant_id, slug).ai_editing == before
    assert revision(demo) == start + 2
    with pytest.raises(SystemExit):  # one or the other
        cli.main(
            [
                "event-policy",
                demo.tenant_id,
                slug,
                "--prompt-in-manifest",
                "--no-prompt-in-manifest",
            ]
        )


def test_the_prompt_is_the_edit_actions_description_only_when_passed() -> None:
    original = Original.of(b"photo", "image/jpeg")
    without = provenance.manifest_definition(
        Provenance("style:oil", "local", original, watermarked=True), "image/webp"
    )
    with_prompt = provenance.manifest_definition(
        Provenance("style:oil", "local", original, watermarked=True, prompt="oil, the lake"),
        "image/webp",
    )
    (actions,) = [a["data"]["actions"] for a in with_prompt["assertions"]]
    assert actions[1] == {
        "action": "c2pa.edited",
        "digitalSourceType": provenance.COMPOSITE,
        "softwareAgent": {"name": "style:oil", "org.aiimage.provider": "local"},
        "description": "oil, the lake",
    }
    assert "oil, the lake" not in repr(without)
