"""The operations side of template.yaml: least-privilege IAM per function, every alarm with
somewhere to go, log groups before their functions, queue redelivery in minutes, and a
scheduled function that neither overlaps nor retries.

The IAM test is the list of what each function's code paths call (DynamoDB, S3, SQS, SSM),
resolved the way CloudFormation would with every optional parameter set: a new call that
needs a permission fails here before it fails in AWS with AccessDenied.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from aiimage.workers import retry_delay
from infra.template import Function, Resolver, load_template, referenced_ids

TEMPLATE = load_template()
FUNCTIONS = sorted(TEMPLATE.functions)
ACCOUNT = "123456789012"
PARAMETERS = {
    "GuestCookieSecretParam": "/p/cookie",
    "C2paSigningBundleParam": "/p/c2pa",
    "JwtSecretParam": "/p/jwt",
    "CdnOriginSecretParam": "/p/cdn",
    "StorageSecretAccessKeyParam": "/p/r2",
    "CloudflareAccountId": "0" * 32,
    "CloudflareApiTokenParam": "/p/cloudflare",
    "ReplicateApiTokenParam": "/p/replicate",
    "RunwareApiKeyParam": "/p/runware",
    "RunwareWebhookTokenParam": "/p/runware-webhook",
}
READ = {"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"}
WRITE = READ | {"dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}
OBJECTS = {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
COOKIE_JWT_CDN = {"/p/cookie", "/p/jwt", "/p/cdn"}
PROVIDERS = {"/p/cloudflare", "/p/replicate", "/p/runware"}


def grants(actions: set[str], *resources: str) -> set[str]:
    return {f"{action} {resource}" for action in actions for resource in resources}


def ssm(*names: str | set[str]) -> set[str]:
    flat = {n for name in names for n in ({name} if isinstance(name, str) else name)}
    return grants({"ssm:GetParameter"}, *(f"ssm:{name}" for name in flat))


EXPECTED: dict[str, set[str]] = {
    "UsageApiFunction": grants(READ, "LimitsTable") | ssm(COOKIE_JWT_CDN),
    "WebAppFunction": grants({"dynamodb:GetItem"}, "EditsTable") | ssm(COOKIE_JWT_CDN),
    "GenerateApiFunction": grants(WRITE, "LimitsTable", "JobsTable")
    | grants(OBJECTS, "ImagesBucket/*")
    | grants({"s3:ListBucket"}, "ImagesBucket")
    | grants({"sqs:SendMessage"}, "JobsQueue")
    | ssm(COOKIE_JWT_CDN, "/p/r2", PROVIDERS, "/p/c2pa"),
    "UploadsApiFunction": grants(WRITE, "LimitsTable")
    | grants({"s3:PutObject"}, "ImagesBucket/*")
    | ssm(COOKIE_JWT_CDN, "/p/r2"),
    # Cancel calls the provider's cancel, hence the provider keys.
    "JobsApiFunction": grants(WRITE, "LimitsTable", "JobsTable")
    | grants(OBJECTS, "ImagesBucket/*")
    | grants({"s3:ListBucket"}, "ImagesBucket")
    | grants({"sqs:SendMessage"}, "JobsQueue")
    | ssm(COOKIE_JWT_CDN, "/p/r2", PROVIDERS),
    # A download converted to another format is signed (the C2PA bundle).
    "DeliveryApiFunction": grants({"s3:GetObject"}, "ImagesBucket/*")
    | grants({"s3:ListBucket"}, "ImagesBucket")
    | ssm(COOKIE_JWT_CDN, "/p/r2", "/p/c2pa"),
    "JobsWorkerFunction": grants(WRITE, "LimitsTable", "JobsTable")
    | grants(OBJECTS, "ImagesBucket/*")
    | grants({"s3:ListBucket"}, "ImagesBucket")
    | grants({"sqs:ChangeMessageVisibility"}, "JobsQueue")
    | ssm("/p/r2", PROVIDERS, "/p/c2pa"),
    # Webhooks advance a request (the poll queue); creates queue it (the submit queue).
    "AiEditsApiFunction": grants(WRITE, "EditsTable", "EditsTable/index/*")
    | grants(WRITE, "IdempotencyTable", "LimitsTable")
    | grants(OBJECTS, "ImagesBucket/*")
    | grants({"s3:ListBucket"}, "ImagesBucket")
    | grants({"sqs:SendMessage"}, "EditsQueue", "EditsPollQueue")
    | ssm(COOKIE_JWT_CDN, "/p/r2", PROVIDERS, "/p/runware-webhook", "/p/c2pa"),
    # A provider at capacity re-queues the submit; the webhook URL carries Runware's token.
    "EditSubmitWorkerFunction": grants(WRITE, "EditsTable", "EditsTable/index/*", "LimitsTable")
    | grants(OBJECTS, "ImagesBucket/*")
    | grants({"s3:ListBucket"}, "ImagesBucket")
    | grants({"sqs:SendMessage"}, "EditsQueue", "EditsPollQueue")
    | grants({"sqs:ChangeMessageVisibility"}, "EditsQueue")
    | ssm("/p/r2", PROVIDERS, "/p/runware-webhook", "/p/c2pa"),
    "EditPollWorkerFunction": grants(WRITE, "EditsTable", "EditsTable/index/*", "LimitsTable")
    | grants(OBJECTS, "ImagesBucket/*")
    | grants({"s3:ListBucket"}, "ImagesBucket")
    | grants({"sqs:SendMessage"}, "EditsPollQueue")
    | grants({"sqs:ChangeMessageVisibility"}, "EditsPollQueue")
    | ssm("/p/r2", PROVIDERS, "/p/c2pa"),
    # Dispatch and recover-stuck queue; prune and the sweeps list and delete; the
    # reservation sweep scans the limits table and reads the jobs that hold reservations.
    "OpsScheduledFunction": grants(WRITE, "EditsTable", "EditsTable/index/*")
    | grants(WRITE | {"dynamodb:Scan"}, "LimitsTable")
    | grants(READ, "JobsTable")
    | grants({"s3:DeleteObject"}, "ImagesBucket/*")
    | grants({"s3:ListBucket"}, "ImagesBucket")
    | grants({"sqs:SendMessage"}, "EditsQueue", "EditsPollQueue")
    | ssm("/p/r2"),
}


# The functions that store AI results, each of them signed (aiimage.imaging.provenance),
# and delivery, which signs a download converted to another format.
SIGNERS = {
    "DeliveryApiFunction",
    "GenerateApiFunction",
    "JobsWorkerFunction",
    "AiEditsApiFunction",
    "EditSubmitWorkerFunction",
    "EditPollWorkerFunction",
}


def short(arn: str) -> str:
    """`LimitsTable`, `ImagesBucket/*`, `ssm:/p/jwt` for the ARNs the resolver computes."""
    prefixes = {
        f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/aiimage-local-": "",
        f"arn:aws:sqs:us-east-1:{ACCOUNT}:aiimage-local-": "",
        "arn:aws:s3:::aiimage-local-imagesbucket": "ImagesBucket",
        f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter": "ssm:",
    }
    for prefix, replacement in prefixes.items():
        if arn.startswith(prefix):
            return replacement + arn.removeprefix(prefix)
    raise AssertionError(f"unexpected resource {arn}")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(resolver: Resolver, logical_id: str) -> Iterator[dict[str, Any]]:
    policies = resolver.resolve(TEMPLATE.resources[logical_id].properties["Policies"], "policies")
    for policy in policies:
        assert set(policy) == {"Statement"}, f"{logical_id}: a SAM policy template: {policy}"
        yield from policy["Statement"]


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_each_function_has_exactly_its_named_actions_on_named_resources(logical_id: str) -> None:
    resolver = Resolver(TEMPLATE, parameters=PARAMETERS)
    found = set()
    for statement in statements(resolver, logical_id):
        assert statement["Effect"] == "Allow"
        for resource in as_list(statement["Resource"]):
            assert "*" not in resource.removesuffix("/*").removesuffix("/index/*"), resource
            found |= grants(set(as_list(statement["Action"])), short(resource))
    assert found == EXPECTED[logical_id]


def test_every_function_is_listed() -> None:
    assert set(EXPECTED) == set(FUNCTIONS)


def test_without_optional_parameters_only_the_named_ones_remain() -> None:
    # No provider, no R2: the workers keep no SSM statement at all (an empty Resource list
    # would be refused by IAM), the HTTP functions only the guest cookie key; the functions
    # that store results also the C2PA signing bundle, which is never optional.
    resolver = Resolver(
        TEMPLATE,
        parameters={"GuestCookieSecretParam": "/p/cookie", "C2paSigningBundleParam": "/p/c2pa"},
    )
    for logical_id in FUNCTIONS:
        resources = [
            short(resource)
            for statement in statements(resolver, logical_id)
            if statement["Action"] == "ssm:GetParameter"
            for resource in as_list(statement["Resource"])
        ]
        signs = "ssm:/p/c2pa" in resources
        assert signs == (logical_id in SIGNERS), logical_id
        if signs:
            resources.remove("ssm:/p/c2pa")
        assert resources in ([], ["ssm:/p/cookie"]), logical_id
        http = bool(TEMPLATE.functions[logical_id].routes)
        assert (resources == ["ssm:/p/cookie"]) == http, logical_id


WORKERS = {f.logical_id: f for f in TEMPLATE.functions.values() if f.sqs_events}


@pytest.mark.parametrize("logical_id", sorted(WORKERS))
def test_a_workers_sqs_is_capped_to_its_own_queues(logical_id: str) -> None:
    # SAM's SQS event adds AWSLambdaSQSQueueExecutionRole (every queue); the boundary caps it.
    properties = TEMPLATE.resources[logical_id].properties
    boundary_id = properties["PermissionsBoundary"]["Ref"]
    boundary = TEMPLATE.resources[boundary_id]
    assert boundary.type == "AWS::IAM::ManagedPolicy"
    [event] = WORKERS[logical_id].sqs_events
    own = event.queue["Fn::GetAtt"][0]
    by_sid = {s["Sid"]: s for s in boundary.properties["PolicyDocument"]["Statement"]}
    assert by_sid["AllButSqs"]["NotAction"] == "sqs:*"
    assert by_sid["OwnQueue"]["Resource"] == {"Fn::GetAtt": [own, "Arn"]}
    assert set(by_sid["OwnQueue"]["Action"]) == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
    }
    sends = {r["Fn::GetAtt"][0] for r in as_list(by_sid.get("SendsTo", {}).get("Resource", []))}
    resolver = Resolver(TEMPLATE, parameters=PARAMETERS)
    granted = {
        short(resource)
        for statement in statements(resolver, logical_id)
        if statement["Action"] == "sqs:SendMessage"
        for resource in as_list(statement["Resource"])
    }
    assert sends == granted


def alarms() -> dict[str, Mapping[str, Any]]:
    return {
        r.logical_id: r.properties
        for r in TEMPLATE.resources.values()
        if r.type == "AWS::CloudWatch::Alarm"
    }


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_every_function_has_an_errors_and_a_throttles_alarm(logical_id: str) -> None:
    metrics = {
        p["MetricName"]
        for p in alarms().values()
        if p.get("Namespace") == "AWS/Lambda"
        and p["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": logical_id}}]
    }
    assert metrics == {"Errors", "Throttles"}


@pytest.mark.parametrize(
    ("parameters", "topic"),
    [
        ({}, "stack"),
        ({"AlarmEmail": "ops@example.com"}, "stack"),
        ({"AlarmTopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:ops"}, "given"),
    ],
)
def test_every_alarm_notifies_the_one_topic(parameters: dict[str, str], topic: str) -> None:
    resolver = Resolver(TEMPLATE, parameters=parameters)
    assert resolver.is_active("AlarmTopic") == (topic == "stack")
    assert resolver.is_active("AlarmEmailSubscription") == ("AlarmEmail" in parameters)
    expected = (
        [parameters["AlarmTopicArn"]]
        if topic == "given"
        else [resolver.resolve({"Ref": "AlarmTopic"}, "topic")]
    )
    for logical_id, properties in alarms().items():
        assert resolver.resolve(properties["AlarmActions"], logical_id) == expected, logical_id


def test_api_5xx_alarm_watches_the_http_api() -> None:
    alarm = alarms()["Api5xxAlarm"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/ApiGateway", "5xx")
    assert alarm["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]


def test_the_misconfigured_signal_is_counted_in_every_log_group_and_alarmed() -> None:
    filters = {
        r.properties["LogGroupName"]["Ref"]: r.properties
        for r in TEMPLATE.resources.values()
        if r.type == "AWS::Logs::MetricFilter"
    }
    assert set(filters) == {log_group_of(f) for f in TEMPLATE.functions.values()}
    for spec in filters.values():
        # aiimage.http.envelope logs an AppError as {"message": "request_failed", "code": ...}.
        assert spec["FilterPattern"] == '{ $.code = "misconfigured" }'
        [transformation] = spec["MetricTransformations"]
        assert (transformation["MetricNamespace"], transformation["MetricName"]) == (
            "AiImage",
            "Misconfigured",
        )
    alarm = alarms()["MisconfiguredAlarm"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"]) == (
        "AiImage",
        "Misconfigured",
        0,
    )


def log_group_of(function: Function) -> str:
    properties = TEMPLATE.resources[function.logical_id].properties
    return str(properties["LoggingConfig"]["LogGroup"]["Ref"])


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_a_functions_log_group_is_created_before_it(logical_id: str) -> None:
    # The function names its group (LoggingConfig), the group does not name the function:
    # CloudFormation creates the group first, so the first invocation cannot race it.
    log_group = TEMPLATE.resources[log_group_of(TEMPLATE.functions[logical_id])]
    assert log_group.type == "AWS::Logs::LogGroup"
    assert logical_id not in referenced_ids(log_group.properties)
    resolver = Resolver(TEMPLATE)
    name = resolver.resolve(log_group.properties["LogGroupName"], "name")
    assert name == f"/aws/lambda/aiimage-local-{logical_id}"


def test_the_scheduled_function_runs_once_at_a_time_without_retries() -> None:
    properties = TEMPLATE.resources["OpsScheduledFunction"].properties
    assert properties["ReservedConcurrentExecutions"] == 1
    # Done before the next minute's run; never retried; kept in a dead-letter queue.
    assert properties["Timeout"] < 60
    assert properties["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    assert properties["DeadLetterQueue"] == {
        "Type": "SQS",
        "TargetArn": {"Fn::GetAtt": ["OpsScheduledDeadLetterQueue", "Arn"]},
    }
    schedules = [e for e in properties["Events"].values() if e["Type"] == "Schedule"]
    assert len(schedules) == 3
    for schedule in schedules:
        assert schedule["Properties"]["RetryPolicy"] == {"MaximumRetryAttempts": 0}
    depth = alarms()["OpsScheduledDeadLetterQueueDepthAlarm"]["Dimensions"][0]["Value"]
    assert depth == {"Fn::GetAtt": ["OpsScheduledDeadLetterQueue", "QueueName"]}


@pytest.mark.parametrize("logical_id", sorted(WORKERS))
def test_queue_redelivery_is_in_minutes(logical_id: str) -> None:
    function = TEMPLATE.resources[logical_id].properties
    [event] = WORKERS[logical_id].sqs_events
    queue = TEMPLATE.resources[event.queue["Fn::GetAtt"][0]].properties
    # AWS's rule for Lambda event sources: at least six times the function's timeout.
    assert queue["VisibilityTimeout"] == 6 * function["Timeout"]
    receives = int(queue["RedrivePolicy"]["maxReceiveCount"])
    module = importlib.import_module(WORKERS[logical_id].handler.rpartition(".")[0])
    assert receives == module.MAX_RECEIVES
    # A message that fails every time: its delays until the receive that moves it.
    assert sum(retry_delay(n) for n in range(1, receives + 1)) == 930


def test_the_magic_edits_api_has_the_memory_of_the_workers_doing_the_same_image_work() -> None:
    memory = {
        name: TEMPLATE.resources[name].properties.get("MemorySize")
        for name in ("AiEditsApiFunction", "EditPollWorkerFunction", "GenerateApiFunction")
    }
    assert set(memory.values()) == {1769}
