"""The ops CLI's global options parse as the README writes them."""

from __future__ import annotations

import pytest

from aiimage.ops.cli import parser
from aiimage.ops.target import LOCAL_ENDPOINT


@pytest.mark.parametrize(
    ("argv", "local", "moto_url", "command"),
    [
        (["--local", "recover-stuck", "--minutes", "30"], True, LOCAL_ENDPOINT, "recover-stuck"),
        (["--local", "summary", "demo-tenant", "summer-party"], True, LOCAL_ENDPOINT, "summary"),
        (
            ["--local", "--moto-url", "http://127.0.0.1:5999", "dispatch"],
            True,
            "http://127.0.0.1:5999",
            "dispatch",
        ),
        (["sweep-reservations", "--pretend"], False, LOCAL_ENDPOINT, "sweep-reservations"),
    ],
)
def test_local_is_a_flag_and_never_takes_the_command(
    argv: list[str], local: bool, moto_url: str, command: str
) -> None:
    args = parser().parse_args(argv)
    assert (args.local, args.moto_url, args.command) == (local, moto_url, command)
