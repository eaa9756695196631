"""Create the data resources of template.yaml (tables, queues, buckets) on moto.

The template is the only list of resources: whatever it declares is created here, with the
properties that change behaviour (keys, indexes, TTL, streams, FIFO, redrive), in
dependency order so a queue's dead-letter queue exists before the queue that names it.
Resources the functions never call at runtime (log groups, IAM, the API itself) are
skipped; a data resource type this module cannot create is an error, not a silent gap.
Creating twice is harmless, so a restart against a running endpoint works.

boto3 finds the endpoint the usual way: `AWS_ENDPOINT_URL` for the local stack, moto's
in-process mock in unit tests.
"""

from __future__ import annotations

import graphlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.exceptions import ClientError

from infra.template import (
    DEFAULT_REGION,
    DEFAULT_STACK_NAME,
    Resolver,
    Resource,
    Template,
    TemplateError,
    referenced_ids,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import CORSConfigurationTypeDef
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

# Types the functions do not call at runtime; everything else must be created or is an error.
NOT_LOCAL_TYPES = (
    "AWS::Serverless::Function",
    "AWS::Serverless::LayerVersion",
    "AWS::Serverless::HttpApi",
    "AWS::Serverless::Api",
    "AWS::Logs::",
    "AWS::IAM::",
    "AWS::Lambda::",
    "AWS::ApiGateway",
    "AWS::CloudWatch::",
    "AWS::SNS::",
    "AWS::Events::",
    "AWS::Scheduler::",
    "AWS::SQS::QueuePolicy",
    "AWS::S3::BucketPolicy",
    # The edge (EnableCdn, EnableWaf): nothing the functions call.
    "AWS::CloudFront::",
    "AWS::WAFv2::",
)

_QUEUE_ATTRIBUTES: tuple[QueueAttributeNameType, ...] = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
)
_QUEUE_JSON_ATTRIBUTES: tuple[QueueAttributeNameType, ...] = ("RedrivePolicy", "RedriveAllowPolicy")
_SIMPLE_TABLE_TYPES = {"String": "S", "Number": "N", "Binary": "B"}


@dataclass(frozen=True, slots=True)
class CreatedResource:
    logical_id: str
    type: str
    physical_name: str
    summary: str
    # Attributes as the endpoint reports them (ARNs, queue URL, stream ARN), for `Resolver`.
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Clients:
    dynamodb: DynamoDBClient
    sqs: SQSClient
    s3: S3Client
    region: str


def create_resources(
    template: Template,
    *,
    parameters: Mapping[str, str] | None = None,
    physical_names: Mapping[str, str] | None = None,
    stack_name: str = DEFAULT_STACK_NAME,
    region: str = DEFAULT_REGION,
) -> list[CreatedResource]:
    """Create every table, queue and bucket of the template; return what exists now."""
    resolver = Resolver(
        template,
        parameters=parameters,
        physical_names=physical_names,
        stack_name=stack_name,
        region=region,
    )
    creators = {
        r.logical_id: create
        for r in template.resources.values()
        if (create := _creator(r)) and resolver.is_active(r.logical_id)
    }
    data = [template.resources[logical_id] for logical_id in creators]
    session = boto3.session.Session(region_name=region)
    clients = _Clients(
        dynamodb=session.client("dynamodb"),
        sqs=session.client("sqs"),
        s3=session.client("s3"),
        region=region,
    )
    created = []
    for resource in _dependency_order(data):
        create = creators[resource.logical_id]
        where = f"Resources.{resource.logical_id}.Properties"
        properties = resolver.resolve(resource.properties, where)
        name = resolver.physical_name(resource.logical_id)
        created.append(create(clients, resource, name, properties))
    return created


def put_secure_parameters(values: Mapping[str, str], *, region: str = DEFAULT_REGION) -> None:
    """Store SSM SecureStrings (the secrets that template parameters name), overwriting."""
    ssm = boto3.session.Session(region_name=region).client("ssm")
    for name, value in values.items():
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


_Creator = Callable[[_Clients, Resource, str, Mapping[str, Any]], CreatedResource]


def _creator(resource: Resource) -> _Creator | None:
    creators: dict[str, _Creator] = {
        "AWS::DynamoDB::Table": _create_table,
        "AWS::Serverless::SimpleTable": _create_simple_table,
        "AWS::SQS::Queue": _create_queue,
        "AWS::S3::Bucket": _create_bucket,
    }
    if resource.type in creators:
        return creators[resource.type]
    if resource.type.startswith(NOT_LOCAL_TYPES):
        return None
    raise TemplateError(
        f"Resources.{resource.logical_id}: the local stack cannot create {resource.type}; "
        "teach infra/resources.py to create it, or to skip it if no function uses it"
    )


def _dependency_order(resources: list[Resource]) -> list[Resource]:
    by_id = {r.logical_id: r for r in resources}
    graph = {
        r.logical_id: (referenced_ids(r.properties) | set(r.depends_on)) & by_id.keys()
        for r in resources
    }
    try:
        return [
            by_id[logical_id] for logical_id in graphlib.TopologicalSorter(graph).static_order()
        ]
    except graphlib.CycleError as exc:
        raise TemplateError(f"Resources reference each other in a cycle: {exc.args[1]}") from exc


def _error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _attribute_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return json.dumps(value)
    return str(value)


# --- tables --------------------------------------------------------------------------------


def _throughput(spec: Mapping[str, Any]) -> dict[str, int]:
    return {
        "ReadCapacityUnits": int(spec["ReadCapacityUnits"]),
        "WriteCapacityUnits": int(spec["WriteCapacityUnits"]),
    }


def _index(spec: Mapping[str, Any]) -> dict[str, Any]:
    index: dict[str, Any] = {
        "IndexName": spec["IndexName"],
        "KeySchema": spec["KeySchema"],
        "Projection": spec["Projection"],
    }
    if "ProvisionedThroughput" in spec:
        index["ProvisionedThroughput"] = _throughput(spec["ProvisionedThroughput"])
    return index


def _create_table(
    clients: _Clients, resource: Resource, name: str, props: Mapping[str, Any]
) -> CreatedResource:
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if "ProvisionedThroughput" in props:
        request["ProvisionedThroughput"] = _throughput(props["ProvisionedThroughput"])
    if props.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = [_index(i) for i in props["GlobalSecondaryIndexes"]]
    if props.get("LocalSecondaryIndexes"):
        request["LocalSecondaryIndexes"] = [_index(i) for i in props["LocalSecondaryIndexes"]]
    stream = props.get("StreamSpecification")
    if stream:
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    return _ensure_table(clients.dynamodb, resource, request, props.get("TimeToLiveSpecification"))


def _create_simple_table(
    clients: _Clients, resource: Resource, name: str, props: Mapping[str, Any]
) -> CreatedResource:
    key = props.get("PrimaryKey", {"Name": "id", "Type": "String"})
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": key["Name"], "AttributeType": _SIMPLE_TABLE_TYPES[key["Type"]]}
        ],
    }
    if "ProvisionedThroughput" in props:
        request["BillingMode"] = "PROVISIONED"
        request["ProvisionedThroughput"] = _throughput(props["ProvisionedThroughput"])
    else:
        request["BillingMode"] = "PAY_PER_REQUEST"
    return _ensure_table(clients.dynamodb, resource, request, None)


def _ensure_table(
    dynamodb: DynamoDBClient,
    resource: Resource,
    request: Mapping[str, Any],
    ttl: Mapping[str, Any] | None,
) -> CreatedResource:
    name = request["TableName"]
    try:
        dynamodb.create_table(**request)
    except ClientError as exc:
        if _error_code(exc) != "ResourceInUseException":
            raise
    table = dynamodb.describe_table(TableName=name)["Table"]
    notes = [" ".join(f"{k['AttributeName']}/{k['KeyType']}" for k in request["KeySchema"])]
    notes += [f"GSI {i['IndexName']}" for i in request.get("GlobalSecondaryIndexes", ())]
    notes += [f"LSI {i['IndexName']}" for i in request.get("LocalSecondaryIndexes", ())]
    if ttl and _flag(ttl.get("Enabled")):
        current = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        notes.append(f"TTL {ttl['AttributeName']}")
    attributes = {"Arn": table["TableArn"]}
    if "LatestStreamArn" in table:
        attributes["StreamArn"] = table["LatestStreamArn"]
        notes.append(f"stream {table['StreamSpecification']['StreamViewType']}")
    return CreatedResource(
        logical_id=resource.logical_id,
        type=resource.type,
        physical_name=name,
        summary=f"table  {name} ({'; '.join(notes)})",
        attributes=attributes,
    )


# --- queues --------------------------------------------------------------------------------


def _create_queue(
    clients: _Clients, resource: Resource, name: str, props: Mapping[str, Any]
) -> CreatedResource:
    attributes: dict[QueueAttributeNameType, str] = {
        k: _attribute_value(props[k]) for k in _QUEUE_ATTRIBUTES if k in props
    }
    attributes |= {k: _attribute_value(props[k]) for k in _QUEUE_JSON_ATTRIBUTES if k in props}
    sqs = clients.sqs
    try:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except ClientError as exc:
        if _error_code(exc) not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
        # It exists with other attributes: bring it in line (FIFO-ness cannot change).
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        mutable: dict[QueueAttributeNameType, str] = {
            k: v for k, v in attributes.items() if k != "FifoQueue"
        }
        if mutable:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=mutable)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    notes = [f"{k} {v}" for k, v in attributes.items() if k in _QUEUE_ATTRIBUTES]
    if "RedrivePolicy" in props:
        redrive = props["RedrivePolicy"]
        dead_letter = str(redrive["deadLetterTargetArn"]).rsplit(":", 1)[-1]
        notes.append(f"DLQ {dead_letter} after {redrive['maxReceiveCount']} receives")
    return CreatedResource(
        logical_id=resource.logical_id,
        type=resource.type,
        physical_name=name,
        summary=f"queue  {name}" + (f" ({'; '.join(notes)})" if notes else ""),
        attributes={"Arn": arn, "QueueUrl": url, "QueueName": name},
    )


# --- buckets -------------------------------------------------------------------------------


def _create_bucket(
    clients: _Clients, resource: Resource, name: str, props: Mapping[str, Any]
) -> CreatedResource:
    try:
        if clients.region == "us-east-1":
            clients.s3.create_bucket(Bucket=name)
        else:
            clients.s3.create_bucket(
                Bucket=name,
                CreateBucketConfiguration={
                    "LocationConstraint": cast("BucketLocationConstraintType", clients.region)
                },
            )
    except ClientError as exc:
        if _error_code(exc) != "BucketAlreadyOwnedByYou":
            raise
    cors = props.get("CorsConfiguration")
    if cors:
        # The browser PUTs direct uploads from the app's origin to the bucket's own.
        clients.s3.put_bucket_cors(Bucket=name, CORSConfiguration=_cors(cors))
    return CreatedResource(
        logical_id=resource.logical_id,
        type=resource.type,
        physical_name=name,
        summary=f"bucket {name}",
    )


def _cors(spec: Mapping[str, Any]) -> CORSConfigurationTypeDef:
    """CloudFormation's CorsConfiguration in the shape of S3's PutBucketCors."""
    names = {
        "AllowedHeaders": "AllowedHeaders",
        "AllowedMethods": "AllowedMethods",
        "AllowedOrigins": "AllowedOrigins",
        "ExposedHeaders": "ExposeHeaders",
        "MaxAge": "MaxAgeSeconds",
        "Id": "ID",
    }
    rules = [
        {names[key]: value for key, value in rule.items() if key in names}
        for rule in spec.get("CorsRules", [])
    ]
    return cast("CORSConfigurationTypeDef", {"CORSRules": rules})
