"""The local stack's reading of template.yaml: YAML tags, intrinsics, resources, routes.

A synthetic template exercises what the real one does not use yet (queues with DLQs,
FIFO, buckets, indexes, streams, conditional resources); the real template.yaml is
checked for what the functions get from it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import yaml
from moto import mock_aws
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from infra.gateway import HttpApiGateway, Route, compile_path
from infra.resources import CreatedResource, create_resources
from infra.template import (
    TEMPLATE_PATH,
    CfnLoader,
    Function,
    HttpRoute,
    Resolver,
    TemplateError,
    load_template,
    parse_template,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs.literals import QueueAttributeNameType

SYNTHETIC = """
Parameters:
  Stage: {Type: String, AllowedValues: [dev, prod], Default: dev}
  Suffix: {Type: String, Default: ""}
  Required: {Type: String}

Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  HasSuffix: !Not [!Equals [!Ref Suffix, ""]]
  ProdOrSuffix: !Or [!Condition IsProd, !Condition HasSuffix]
  ProdAndSuffix: !And [!Condition IsProd, !Condition HasSuffix]

Globals:
  Function:
    Environment:
      Variables:
        STAGE: !Ref Stage
        SHARED: global

Resources:
  # Declared before their dead-letter queues: creation must follow the references.
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 120
      MessageRetentionPeriod: 86400
      DelaySeconds: 2
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt JobsDlq.Arn
        maxReceiveCount: 5
  JobsDlq:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  Steps:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      ContentBasedDeduplication: true
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt StepsDlq.Arn
        maxReceiveCount: 3
  StepsDlq:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-steps-dlq.fifo"
      FifoQueue: "true"

  StateTable:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-state"
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: S}
        - {AttributeName: gsi1pk, AttributeType: S}
        - {AttributeName: created, AttributeType: N}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      GlobalSecondaryIndexes:
        - IndexName: gsi1
          KeySchema:
            - {AttributeName: gsi1pk, KeyType: HASH}
            - {AttributeName: sk, KeyType: RANGE}
          Projection: {ProjectionType: ALL}
      LocalSecondaryIndexes:
        - IndexName: by-created
          KeySchema:
            - {AttributeName: pk, KeyType: HASH}
            - {AttributeName: created, KeyType: RANGE}
          Projection: {ProjectionType: KEYS_ONLY}
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
  Sessions:
    Type: AWS::Serverless::SimpleTable
    Properties:
      PrimaryKey: {Name: session_id, Type: String}

  Results:
    Type: AWS::S3::Bucket
  AuditBucket:
    Type: AWS::S3::Bucket
    Condition: IsProd

  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: !If [IsProd, 90, 14]
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {}

  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Handler: jobs_worker.app.handler
      Environment:
        Variables:
          SHARED: own
          JOBS_QUEUE_URL: !Ref Jobs
          JOBS_QUEUE_ARN: !GetAtt Jobs.Arn
          STEPS_QUEUE: !GetAtt [Steps, QueueName]
          STATE_TABLE: !Ref StateTable
          STATE_STREAM: !GetAtt StateTable.StreamArn
          RESULTS_BUCKET: !Ref Results
          RESULTS_URL: !Sub "https://${Results.RegionalDomainName}/${!key}?r=${AWS::Region}"
          RETENTION: !If [IsProd, 90, 14]
          AUDIT_BUCKET: !If [IsProd, !Ref AuditBucket, !Ref AWS::NoValue]
          LABEL: !If
            - ProdOrSuffix
            - !Sub ["${Stage}-${S}", {S: !Ref Suffix}]
            - !Ref AWS::NoValue
          STRICT: !If [ProdAndSuffix, "yes", "no"]
          HOSTS: !Join [",", [a, !Select [1, !Split ["|", "x|y|z"]]]]
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: "/jobs/{id}", Method: get}
        Queue:
          Type: SQS
          Properties: {Queue: !GetAtt Jobs.Arn}
"""

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/aiimage-local-state/stream/x"


@pytest.fixture
def synthetic() -> Resolver:
    return Resolver(
        parse_template(SYNTHETIC),
        parameters={"Required": "r"},
        attributes={"StateTable": {"StreamArn": STREAM_ARN}},
    )


@pytest.fixture
def moto() -> Iterator[None]:
    with mock_aws():
        yield


# --- YAML --------------------------------------------------------------------------------


def test_short_tags_become_the_long_form() -> None:
    document = yaml.load(
        """
        a: !Ref Stage
        b: !GetAtt Table.StreamArn
        c: !GetAtt [Table, Arn]
        d: !Sub ["${X}", {X: !Ref Y}]
        e: !If [IsProd, 1, !Ref AWS::NoValue]
        f: !Not [!Condition IsProd]
        g: !Join [",", !Split ["|", !Select [0, [p, q]]]]
        h: !Base64 text
        i: !GetAtt Db.Endpoint.Address
        """,
        Loader=CfnLoader,  # noqa: S506 - a SafeLoader subclass
    )
    assert document == {
        "a": {"Ref": "Stage"},
        "b": {"Fn::GetAtt": ["Table", "StreamArn"]},
        "c": {"Fn::GetAtt": ["Table", "Arn"]},
        "d": {"Fn::Sub": ["${X}", {"X": {"Ref": "Y"}}]},
        "e": {"Fn::If": ["IsProd", 1, {"Ref": "AWS::NoValue"}]},
        "f": {"Fn::Not": [{"Condition": "IsProd"}]},
        "g": {"Fn::Join": [",", {"Fn::Split": ["|", {"Fn::Select": [0, ["p", "q"]]}]}]},
        "h": {"Fn::Base64": "text"},
        "i": {"Fn::GetAtt": ["Db", "Endpoint.Address"]},
    }


def test_an_unknown_tag_is_an_error() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="!Bogus"):
        parse_template("Resources: {X: !Bogus y}")


# --- the real template.yaml ----------------------------------------------------------------


def test_usage_function_environment_from_template_yaml() -> None:
    resolver = Resolver(
        load_template(),
        parameters={
            "AppOrigin": "http://127.0.0.1:3000,http://localhost:3000",
            "GuestCookieSecretParam": "/aiimage/local/guest-cookie-secret",
            "JwtSecretParam": "/aiimage/local/jwt-secret",
        },
    )
    function = resolver.template.functions["UsageApiFunction"]
    assert function.handler == "usage_api.app.handler"
    assert function.routes == (
        HttpRoute(method="ANY", path="/api/ai-image/usage"),
        HttpRoute(method="ANY", path="/api/ai-image/models"),
    )
    environment = resolver.environment(function)
    assert environment["LIMITS_TABLE"] == "aiimage-local-LimitsTable"
    assert environment["LIMITS_TABLE"] == resolver.physical_name("LimitsTable")
    assert environment["STAGE"] == "dev"
    assert environment["ALLOWED_ORIGINS"] == "http://127.0.0.1:3000,http://localhost:3000"
    assert environment["GUEST_COOKIE_SECRET_PARAM"] == "/aiimage/local/guest-cookie-secret"
    assert environment["JWT_SECRET_PARAM"] == "/aiimage/local/jwt-secret"
    assert environment["JWT_PUBLIC_KEY"] == ""
    assert environment["COOKIE_SECURE"] == "true"
    assert environment["POWERTOOLS_SERVICE_NAME"] == "aiimage"


@pytest.mark.parametrize(
    ("parameters", "retention", "ssm_resources"),
    [
        ({}, 14, ["parameter/aiimage/dev/guest-cookie-secret"]),
        (
            {"Stage": "prod", "JwtSecretParam": "/aiimage/prod/jwt"},
            90,
            ["parameter/aiimage/dev/guest-cookie-secret", "parameter/aiimage/prod/jwt"],
        ),
    ],
)
def test_conditions_and_no_value_in_template_yaml(
    parameters: dict[str, str], retention: int, ssm_resources: list[str]
) -> None:
    resolver = Resolver(load_template(), parameters=parameters)
    logs = resolver.resolve(resolver.template.resources["UsageApiLogs"].properties, "logs")
    assert logs == {
        "LogGroupName": "/aws/lambda/aiimage-local-UsageApiFunction",
        "RetentionInDays": retention,
    }
    policies = resolver.resolve(
        resolver.template.resources["UsageApiFunction"].properties["Policies"], "policies"
    )
    [dynamodb, ssm] = policies[0]["Statement"]
    assert dynamodb["Resource"] == [
        "arn:aws:dynamodb:us-east-1:123456789012:table/aiimage-local-LimitsTable"
    ]
    arns = ssm["Resource"]
    prefix = "arn:aws:ssm:us-east-1:123456789012:"
    assert arns == [prefix + r for r in ssm_resources]


def test_a_parameter_without_default_fails_where_it_is_used() -> None:
    # Every parameter of the template has a default; one without fails where it is read.
    text = TEMPLATE_PATH.read_text().replace(
        '    Default: ""\n    AllowedPattern: ^(https?://', "    AllowedPattern: ^(https?://", 1
    )
    resolver = Resolver(parse_template(text))
    with pytest.raises(TemplateError, match=r"parameter AppOrigin has no default.*"):
        resolver.environment(resolver.template.functions["UsageApiFunction"])


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"Stage": "local"}, r"Stage='local' is not one of \['dev', 'prod'\]"),
        ({"JwtSecretParam": "no-leading-slash"}, "does not match"),
        ({"Nope": "x"}, "Unknown template parameters: Nope"),
    ],
)
def test_parameter_values_are_validated(parameters: dict[str, str], message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        Resolver(load_template(), parameters=parameters)


@pytest.mark.usefixtures("aws_stack")
def test_template_yaml_limits_table_is_created_with_ttl() -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    table = dynamodb.describe_table(TableName="test-limits")["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = dynamodb.describe_time_to_live(TableName="test-limits")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")


# --- intrinsics ----------------------------------------------------------------------------


def test_environment_merges_globals_and_evaluates_intrinsics(synthetic: Resolver) -> None:
    environment = synthetic.environment(synthetic.template.functions["Worker"])
    assert environment == {
        "STAGE": "dev",
        "SHARED": "own",
        "JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/aiimage-local-Jobs",
        "JOBS_QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:aiimage-local-Jobs",
        "STEPS_QUEUE": "aiimage-local-Steps.fifo",
        "STATE_TABLE": "aiimage-local-state",
        "STATE_STREAM": STREAM_ARN,
        "RESULTS_BUCKET": "aiimage-local-results",
        "RESULTS_URL": "https://aiimage-local-results.s3.us-east-1.amazonaws.com/${key}?r=us-east-1",
        "RETENTION": "14",
        "STRICT": "no",
        "HOSTS": "a,y",
    }


def test_conditions_choose_branches_and_resources() -> None:
    resolver = Resolver(
        parse_template(SYNTHETIC),
        parameters={"Stage": "prod", "Suffix": "blue", "Required": "r"},
        attributes={"StateTable": {"StreamArn": STREAM_ARN}},
        stack_name="Other",
    )
    environment = resolver.environment(resolver.template.functions["Worker"])
    assert environment["RETENTION"] == "90"
    assert environment["AUDIT_BUCKET"] == "other-auditbucket"
    assert environment["LABEL"] == "prod-blue"
    assert environment["STRICT"] == "yes"
    assert environment["JOBS_QUEUE_URL"].endswith("/Other-Jobs")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Fn::ImportValue": "shared"}, r"Fn::ImportValue at Here is not supported"),
        ({"Fn::GetAZs": ""}, r"Fn::GetAZs at Here is not supported"),
        ({"Fn::Equals": ["a", "a"]}, r"Fn::Equals at Here is not supported"),
        ({"Ref": "Nope"}, r"Here \(Ref\): Ref to unknown name 'Nope'"),
        ({"Ref": "AuditBucket"}, r"Ref to AuditBucket, whose Condition is false"),
        ({"Ref": "Required"}, r"parameter Required has no default and no value"),
        ({"Fn::GetAtt": ["Results", "WebsiteURL"]}, r"Results.WebsiteURL at Here.*not supported"),
        ({"Fn::GetAtt": ["StateTable", "StreamArn"]}, r"StreamArn .*known only once the table"),
        ({"Fn::Sub": "${Nope.Arn}"}, r"no resource named 'Nope'"),
        ({"Fn::If": ["Missing", 1, 2]}, r"Condition 'Missing' is not defined"),
        ({"Fn::Select": [5, ["a"]]}, r"index 5 is outside a list of 1"),
        ({"Fn::Join": [",", "not-a-list"]}, r"expected a list"),
        ({"Fn::Sub": "${AWS::NoValue}"}, r"AWS::NoValue"),
    ],
)
def test_unsupported_or_invalid_intrinsics_fail_with_their_location(
    value: dict[str, Any], message: str
) -> None:
    resolver = Resolver(parse_template(SYNTHETIC))
    with pytest.raises(TemplateError, match=message):
        resolver.resolve(value, "Here")


def test_nested_unsupported_intrinsic_names_its_path() -> None:
    resolver = Resolver(parse_template(SYNTHETIC))
    with pytest.raises(TemplateError, match=r"Fn::ImportValue at Root.Tags\[1\].Value"):
        resolver.resolve({"Tags": [{"Value": "a"}, {"Value": {"Fn::ImportValue": "x"}}]}, "Root")


def test_condition_cycles_are_reported() -> None:
    template = parse_template("Conditions: {A: !Condition B, B: !Not [!Condition A]}")
    with pytest.raises(TemplateError, match="depends on itself"):
        Resolver(template).condition("A")


def test_mappings_base64_and_no_value_in_lists() -> None:
    template = parse_template(
        """
        Mappings: {Sizes: {dev: {Memory: 512}}}
        Conditions: {Never: !Equals [a, b]}
        """
    )
    resolver = Resolver(template)
    assert resolver.resolve({"Fn::FindInMap": ["Sizes", "dev", "Memory"]}) == 512
    assert resolver.resolve({"Fn::Base64": "hi"}) == "aGk="
    assert resolver.resolve(["a", {"Fn::If": ["Never", "b", {"Ref": "AWS::NoValue"}]}]) == ["a"]
    assert resolver.resolve({"Ref": "AWS::NoValue"}) is None


def test_bucket_names_must_be_lowercase() -> None:
    template = parse_template(
        "Resources: {B: {Type: AWS::S3::Bucket, Properties: {BucketName: Up}}}"
    )
    with pytest.raises(TemplateError, match="lowercase"):
        Resolver(template).physical_name("B")


# --- resources on moto ---------------------------------------------------------------------


@pytest.mark.usefixtures("moto")
def test_synthetic_resources_are_created_in_dependency_order() -> None:
    created = create_resources(parse_template(SYNTHETIC), parameters={"Required": "r"})
    order = [c.logical_id for c in created]
    assert set(order) == {
        "Jobs",
        "JobsDlq",
        "Steps",
        "StepsDlq",
        "StateTable",
        "Sessions",
        "Results",
    }
    assert order.index("JobsDlq") < order.index("Jobs")
    assert order.index("StepsDlq") < order.index("Steps")
    by_id = {c.logical_id: c for c in created}

    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    table = dynamodb.describe_table(TableName="aiimage-local-state")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["gsi1"]
    assert [i["IndexName"] for i in table["LocalSecondaryIndexes"]] == ["by-created"]
    assert table["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert by_id["StateTable"].attributes["StreamArn"] == table["LatestStreamArn"]
    ttl = dynamodb.describe_time_to_live(TableName="aiimage-local-state")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    sessions = dynamodb.describe_table(TableName="aiimage-local-Sessions")["Table"]
    assert sessions["KeySchema"] == [{"AttributeName": "session_id", "KeyType": "HASH"}]

    sqs = boto3.client("sqs", region_name="us-east-1")

    def attributes(name: str) -> dict[QueueAttributeNameType, str]:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

    jobs, jobs_dlq = attributes("aiimage-local-Jobs"), attributes("aiimage-local-JobsDlq")
    assert (jobs["VisibilityTimeout"], jobs["MessageRetentionPeriod"], jobs["DelaySeconds"]) == (
        "120",
        "86400",
        "2",
    )
    assert jobs_dlq["MessageRetentionPeriod"] == "1209600"
    assert _redrive(jobs) == (jobs_dlq["QueueArn"], 5)
    steps, steps_dlq = (
        attributes("aiimage-local-Steps.fifo"),
        attributes("aiimage-local-steps-dlq.fifo"),
    )
    assert (steps["FifoQueue"], steps["ContentBasedDeduplication"]) == ("true", "true")
    assert steps_dlq["FifoQueue"] == "true"
    assert _redrive(steps) == (steps_dlq["QueueArn"], 3)

    buckets = boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"]
    assert [b["Name"] for b in buckets] == ["aiimage-local-results"]  # AuditBucket is prod-only

    # Idempotent: a second run finds everything in place.
    again = create_resources(parse_template(SYNTHETIC), parameters={"Required": "r"})
    assert _names(again) == _names(created)


@pytest.mark.usefixtures("moto")
def test_environment_uses_the_attributes_the_endpoint_reports() -> None:
    template = parse_template(SYNTHETIC)
    created = create_resources(template, parameters={"Required": "r"})
    resolver = Resolver(
        template,
        parameters={"Required": "r"},
        attributes={c.logical_id: c.attributes for c in created},
    )
    environment = resolver.environment(template.functions["Worker"])
    by_id = {c.logical_id: c for c in created}
    assert environment["JOBS_QUEUE_URL"] == by_id["Jobs"].attributes["QueueUrl"]
    assert environment["STATE_STREAM"] == by_id["StateTable"].attributes["StreamArn"]
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.send_message(QueueUrl=environment["JOBS_QUEUE_URL"], MessageBody="ping")


@pytest.mark.usefixtures("moto")
def test_an_unknown_data_resource_fails_before_anything_is_created() -> None:
    template = parse_template(
        """
        Resources:
          Table:
            Type: AWS::Serverless::SimpleTable
          Stream:
            Type: AWS::Kinesis::Stream
            Properties: {ShardCount: 1}
        """
    )
    with pytest.raises(
        TemplateError, match=r"Resources.Stream: .*cannot create AWS::Kinesis::Stream"
    ):
        create_resources(template)
    assert boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"] == []


def _redrive(attributes: dict[QueueAttributeNameType, str]) -> tuple[str, int]:
    policy = json.loads(attributes["RedrivePolicy"])
    return policy["deadLetterTargetArn"], int(policy["maxReceiveCount"])


def _names(created: list[CreatedResource]) -> list[tuple[str, str]]:
    return sorted((c.logical_id, c.physical_name) for c in created)


# --- HttpApi routing -----------------------------------------------------------------------


def _echo(name: str) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        answer = f"{name} {scope['method']} {scope['path']}?{scope['query_string'].decode()} "
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": answer.encode() + body})

    return app


def _gateway(*routes: str) -> TestClient:
    """A gateway whose routes ("GET /path") each answer with their name, method, path,
    query string and body."""
    gateway = HttpApiGateway(
        Route.of(
            HttpRoute(*route.split(" ")),
            Function(route, handler="x.app.handler", environment={}, routes=(), condition=None),
            _echo(route),
        )
        for route in routes
    )
    return TestClient(gateway, base_url="http://gw")


@pytest.mark.parametrize(
    ("path", "pattern_matches", "pattern_rejects"),
    [
        ("/jobs/{id}", ["/jobs/1"], ["/jobs", "/jobs/1/x", "/jobs/"]),
        ("/r2-ai/{key+}", ["/r2-ai/a", "/r2-ai/a/b/c.png"], ["/r2-ai", "/r2-ai/"]),
        ("/", ["/"], ["/x"]),
    ],
)
def test_path_templates(path: str, pattern_matches: list[str], pattern_rejects: list[str]) -> None:
    pattern = compile_path(path)[0]
    assert all(pattern.fullmatch(p) for p in pattern_matches)
    assert not any(pattern.fullmatch(p) for p in pattern_rejects)


@pytest.mark.parametrize("path", ["/a/{b}/c/{d+}/e", "/a/x{b}"])
def test_invalid_path_templates_are_rejected(path: str) -> None:
    with pytest.raises(TemplateError):
        compile_path(path)


def test_gateway_prefers_the_most_specific_route() -> None:
    client = _gateway(
        "GET /pets/dog/1", "GET /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}"
    )
    expected = {
        ("GET", "/pets/dog/1"): "GET /pets/dog/1",
        ("GET", "/pets/dog/2"): "GET /pets/dog/{id}",
        ("GET", "/pets/cat/1"): "GET /pets/{proxy+}",
        ("POST", "/pets/cat"): "ANY /{proxy+}",
    }
    for (method, path), route in expected.items():
        assert client.request(method, path).text.startswith(f"{route} {method} {path}?")


def test_gateway_passes_requests_through_and_answers_404_like_api_gateway() -> None:
    client = _gateway("GET /jobs/{id}", "POST /jobs")
    assert client.post("/jobs?x=1", content=b"payload").text == "POST /jobs POST /jobs?x=1 payload"
    for method, path in [("GET", "/jobs"), ("DELETE", "/jobs/1"), ("GET", "/nope")]:
        response = client.request(method, path)
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found"}
        assert response.headers["content-type"] == "application/json"


def test_default_route_takes_what_no_other_route_matches() -> None:
    client = _gateway("GET /jobs", "ANY $default")
    assert client.get("/jobs").text.startswith("GET /jobs ")
    assert client.delete("/anything/else").text.startswith("ANY $default ")


def test_a_route_declared_twice_is_an_error() -> None:
    with pytest.raises(TemplateError, match="declared twice"):
        _gateway("GET /a", "GET /a")
