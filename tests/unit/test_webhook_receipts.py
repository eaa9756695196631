"""Webhook receipts: one conditional put per webhook id, so of concurrent deliveries of one
id exactly one is processed; a released or expired receipt can be claimed again."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from aiimage import aws
from aiimage.edits import webhook_receipts
from aiimage.edits.webhook_receipts import CLOCK_SKEW_MARGIN_SECONDS, Receipt
from tests.conftest import TEST_ENV

pytestmark = pytest.mark.usefixtures("aws_stack")
NOW = 1_800_000_000


def test_the_first_delivery_claims_and_a_replay_does_not() -> None:
    receipt = Receipt("replicate", "msg_1", NOW + 300)
    assert webhook_receipts.claim(receipt, now=NOW) is True
    assert webhook_receipts.claim(receipt, now=NOW + 1) is False
    assert webhook_receipts.claim(Receipt("replicate", "msg_2", NOW + 300), now=NOW) is True
    assert webhook_receipts.claim(Receipt("runware", "msg_1", NOW + 300), now=NOW) is True


def test_the_receipt_lives_for_the_signature_window_and_its_margin() -> None:
    receipt = Receipt("replicate", "msg_ttl", NOW + 300)
    assert webhook_receipts.claim(receipt, now=NOW)
    item = aws.dynamodb().get_item(TableName=TEST_ENV["EDITS_TABLE"], Key=receipt.key)["Item"]
    assert item["expires_at"] == {"N": str(NOW + 300 + CLOCK_SKEW_MARGIN_SECONDS)}
    expiry = NOW + 300 + CLOCK_SKEW_MARGIN_SECONDS
    # DynamoDB's TTL deletes late: an expired receipt no longer counts, deleted or not.
    assert webhook_receipts.claim(receipt, now=expiry) is False
    assert webhook_receipts.claim(receipt, now=expiry + 1) is True


def test_a_released_claim_can_be_claimed_again() -> None:
    receipt = Receipt("replicate", "msg_failed", NOW + 300)
    assert webhook_receipts.claim(receipt, now=NOW)
    webhook_receipts.release(receipt)
    assert webhook_receipts.claim(receipt, now=NOW)


def test_concurrent_deliveries_of_one_id_claim_exactly_once() -> None:
    copies = 16
    receipt = Receipt("replicate", "msg_concurrent", NOW + 300)
    start = threading.Barrier(copies)

    def deliver(_: int) -> bool:
        start.wait()
        return webhook_receipts.claim(receipt, now=NOW)

    with ThreadPoolExecutor(copies) as pool:
        claims = list(pool.map(deliver, range(copies)))
    assert claims.count(True) == 1
    assert claims.count(False) == copies - 1
