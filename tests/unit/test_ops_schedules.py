"""The local stack runs the template's Schedule events as EventBridge would: the schedule
expressions the template uses, and the functions and inputs they invoke."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from infra.local import next_run, schedules_of
from infra.template import Resolver, TemplateError, load_template

NOW = datetime(2026, 11, 23, 13, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("rate(1 minute)", datetime(2026, 11, 23, 13, 8, 30, tzinfo=UTC)),
        ("rate(15 minutes)", datetime(2026, 11, 23, 13, 22, 30, tzinfo=UTC)),
        ("rate(2 hours)", datetime(2026, 11, 23, 15, 7, 30, tzinfo=UTC)),
        ("cron(30 2 * * ? *)", datetime(2026, 11, 24, 2, 30, tzinfo=UTC)),
        ("cron(30 14 * * ? *)", datetime(2026, 11, 23, 14, 30, tzinfo=UTC)),
    ],
)
def test_next_run(expression: str, expected: datetime) -> None:
    assert next_run(expression, NOW) == expected


def test_an_unsupported_expression_is_an_error() -> None:
    with pytest.raises(TemplateError, match="cannot run the schedule"):
        next_run("cron(0 12 ? * MON-FRI *)", NOW)


def test_the_templates_schedules_invoke_the_ops_function() -> None:
    template = load_template()
    functions = Resolver(template, parameters={"AppOrigin": "https://app.test"}).active_functions()
    found = {(s.function, s.expression): dict(s.input) for s in schedules_of(template, functions)}
    assert found == {
        ("OpsScheduledFunction", "rate(1 minute)"): {"command": "dispatch"},
        ("OpsScheduledFunction", "rate(15 minutes)"): {
            "command": "recover-stuck",
            "minutes": 30,
            "mode": "requeue",
        },
        ("OpsScheduledFunction", "cron(30 2 * * ? *)"): {"command": "prune"},
    }
