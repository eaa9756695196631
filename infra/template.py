"""Read template.yaml the way CloudFormation and SAM would, for the local stack.

The local stack has no second list of tables, queues, routes or environment variables: it
reads them from the template, so what runs locally is what deploys. This module parses the
YAML (CloudFormation's short-form tags included), models the parts the local stack needs,
and evaluates intrinsic functions for one local deployment. An intrinsic it cannot evaluate
faithfully is an error naming the intrinsic and where it occurs, never a value passed
through unevaluated.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"

DEFAULT_STACK_NAME = "aiimage-local"
DEFAULT_REGION = "us-east-1"
# moto's default account, so ARNs computed here equal the ones moto reports.
LOCAL_ACCOUNT_ID = "123456789012"
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"

TABLE_TYPES = frozenset({"AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"})
QUEUE_TYPE = "AWS::SQS::Queue"
BUCKET_TYPE = "AWS::S3::Bucket"
FUNCTION_TYPE = "AWS::Serverless::Function"

# The property that names a resource explicitly; otherwise it is named after the stack.
_NAME_PROPERTIES: Final = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Serverless::SimpleTable": "TableName",
    QUEUE_TYPE: "QueueName",
    BUCKET_TYPE: "BucketName",
    FUNCTION_TYPE: "FunctionName",
}


class TemplateError(Exception):
    """The template cannot be read or evaluated locally; the message says where and why."""


# --- YAML ----------------------------------------------------------------------------------

_SHORT_TAGS: Final = {
    "Ref": "Ref",
    "Condition": "Condition",
    **{
        name: f"Fn::{name}"
        for name in (
            "GetAtt",
            "Sub",
            "If",
            "Equals",
            "Not",
            "And",
            "Or",
            "Join",
            "Select",
            "Split",
            "FindInMap",
            "Base64",
            "ImportValue",
        )
    },
}


class CfnLoader(yaml.SafeLoader):
    """A SafeLoader that turns CloudFormation's short tags (`!Ref x`) into their long form."""


def _construct_short_form(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if suffix not in _SHORT_TAGS:
        raise yaml.constructor.ConstructorError(
            None, None, f"unknown CloudFormation tag !{suffix}", node.start_mark
        )
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # YAML has no fourth kind of node
        raise yaml.constructor.ConstructorError(
            None, None, f"unexpected node for !{suffix}", node.start_mark
        )
    if suffix == "GetAtt" and isinstance(value, str):
        # `!GetAtt Res.Attr.Nested` names the attribute "Attr.Nested" of "Res".
        value = value.split(".", 1)
    return {_SHORT_TAGS[suffix]: value}


CfnLoader.add_multi_constructor("!", _construct_short_form)


# --- model ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    type: str
    default: str | None
    allowed_values: tuple[str, ...] | None
    allowed_pattern: str | None


@dataclass(frozen=True, slots=True)
class Resource:
    logical_id: str
    type: str
    properties: Mapping[str, Any]
    condition: str | None
    depends_on: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HttpRoute:
    """One HttpApi event: `method` is upper-case or ANY; `path` may be `$default`."""

    method: str
    path: str


@dataclass(frozen=True, slots=True)
class SqsEvent:
    """One SQS event source: `queue` is the unresolved `Queue` property (a queue ARN)."""

    queue: Any
    batch_size: int
    reports_failures: bool


@dataclass(frozen=True, slots=True)
class Function:
    logical_id: str
    handler: str
    # Unresolved: Globals.Function's variables overlaid with the function's own, as SAM merges.
    environment: Mapping[str, Any]
    routes: tuple[HttpRoute, ...]
    condition: str | None
    sqs_events: tuple[SqsEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class Template:
    parameters: Mapping[str, Parameter]
    conditions: Mapping[str, Any]
    mappings: Mapping[str, Any]
    resources: Mapping[str, Resource]
    functions: Mapping[str, Function]


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TemplateError(f"{where} must be a mapping")
    return value


def _scalar(value: Any, where: str) -> str:
    """A scalar as CloudFormation passes it on: always a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"{where} must be a string, number or boolean, not {type(value).__name__}")


def _parameter(name: str, spec: Mapping[str, Any]) -> Parameter:
    where = f"Parameters.{name}"
    allowed = spec.get("AllowedValues")
    default = spec.get("Default")
    return Parameter(
        name=name,
        type=str(spec.get("Type", "String")),
        default=None if default is None else _scalar(default, f"{where}.Default"),
        allowed_values=None
        if allowed is None
        else tuple(_scalar(v, f"{where}.AllowedValues") for v in allowed),
        allowed_pattern=spec.get("AllowedPattern"),
    )


def _resource(logical_id: str, spec: Mapping[str, Any]) -> Resource:
    where = f"Resources.{logical_id}"
    if "Type" not in spec:
        raise TemplateError(f"{where} has no Type")
    depends_on = spec.get("DependsOn", ())
    return Resource(
        logical_id=logical_id,
        type=str(spec["Type"]),
        properties=_mapping(spec.get("Properties"), f"{where}.Properties"),
        condition=spec.get("Condition"),
        depends_on=(depends_on,) if isinstance(depends_on, str) else tuple(depends_on),
    )


def _routes(resource: Resource) -> tuple[HttpRoute, ...]:
    routes = []
    events = _mapping(resource.properties.get("Events"), f"Resources.{resource.logical_id}.Events")
    for name, event in events.items():
        if event.get("Type") != "HttpApi":
            continue
        props = _mapping(event.get("Properties"), f"Resources.{resource.logical_id}.Events.{name}")
        # Without Path and Method, SAM creates the API's catch-all `$default` route.
        path = props.get("Path", "$default")
        method = props.get("Method", "ANY")
        if not isinstance(path, str) or not isinstance(method, str):
            raise TemplateError(
                f"Resources.{resource.logical_id}.Events.{name}: Path and Method must be literals"
            )
        routes.append(HttpRoute(method=method.upper(), path=path))
    return tuple(routes)


def _sqs_events(resource: Resource) -> tuple[SqsEvent, ...]:
    where = f"Resources.{resource.logical_id}.Events"
    events = _mapping(resource.properties.get("Events"), where)
    return tuple(
        SqsEvent(
            queue=props["Queue"],
            batch_size=int(props.get("BatchSize", 10)),
            reports_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", ()),
        )
        for name, event in events.items()
        if event.get("Type") == "SQS"
        for props in (_mapping(event.get("Properties"), f"{where}.{name}"),)
    )


def _function(resource: Resource, globals_: Mapping[str, Any]) -> Function:
    where = f"Resources.{resource.logical_id}"
    handler = resource.properties.get("Handler", globals_.get("Handler"))
    if not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"{where}.Properties.Handler must be a literal module.attribute")
    global_env = _mapping(globals_.get("Environment"), "Globals.Function.Environment")
    own_env = _mapping(resource.properties.get("Environment"), f"{where}.Properties.Environment")
    return Function(
        logical_id=resource.logical_id,
        handler=handler,
        environment={
            **_mapping(global_env.get("Variables"), "Globals.Function.Environment.Variables"),
            **_mapping(own_env.get("Variables"), f"{where}.Properties.Environment.Variables"),
        },
        routes=_routes(resource),
        condition=resource.condition,
        sqs_events=_sqs_events(resource),
    )


def parse_template(text: str) -> Template:
    document = yaml.load(text, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader
    document = _mapping(document, "the template")
    resources = {
        logical_id: _resource(logical_id, _mapping(spec, f"Resources.{logical_id}"))
        for logical_id, spec in _mapping(document.get("Resources"), "Resources").items()
    }
    function_globals = _mapping(
        _mapping(document.get("Globals"), "Globals").get("Function"), "Globals.Function"
    )
    return Template(
        parameters={
            name: _parameter(name, _mapping(spec, f"Parameters.{name}"))
            for name, spec in _mapping(document.get("Parameters"), "Parameters").items()
        },
        conditions=_mapping(document.get("Conditions"), "Conditions"),
        mappings=_mapping(document.get("Mappings"), "Mappings"),
        resources=resources,
        functions={
            r.logical_id: _function(r, function_globals)
            for r in resources.values()
            if r.type == FUNCTION_TYPE
        },
    )


def load_template(path: Path = TEMPLATE_PATH) -> Template:
    return parse_template(path.read_text())


# --- references ----------------------------------------------------------------------------

_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _sub_parts(arg: Any, location: str) -> tuple[str, Mapping[str, Any]]:
    """The text and variables of `Fn::Sub`, in either of its two forms."""
    if isinstance(arg, str):
        return arg, {}
    if isinstance(arg, list) and len(arg) == 2:
        text, variables = arg
        if isinstance(text, str) and isinstance(variables, Mapping):
            return text, variables
    raise TemplateError(f"{location}: Fn::Sub takes a string or [string, variables]")


def referenced_ids(value: Any) -> set[str]:
    """Names that `value` refers to with Ref, Fn::GetAtt or Fn::Sub (resources, parameters,
    pseudo parameters alike; callers keep the ones they care about)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= referenced_ids(item)
    elif isinstance(value, Mapping):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt" and isinstance(arg, list) and arg:
                found.add(str(arg[0]))
            elif key == "Fn::Sub":
                text, variables = _sub_parts(arg, "Fn::Sub")
                for name in _SUB_VARIABLE.findall(text):
                    if not name.startswith("!") and name not in variables:
                        found.add(name.split(".", 1)[0])
                found |= referenced_ids(variables)
            else:
                found |= referenced_ids(arg)
    return found


# --- evaluation ----------------------------------------------------------------------------


class _NoValue:
    """What `AWS::NoValue` evaluates to until the enclosing key or list item is dropped."""


_NO_VALUE: Final = _NoValue()


class Resolver:
    """Evaluates intrinsic functions as CloudFormation would for one local deployment.

    `physical_names` and `attributes` (logical id -> attribute -> value) override what is
    computed from the template, for values only known once a resource exists (a stream
    ARN, the queue URL the endpoint reports) or names a caller fixes (tests).
    """

    def __init__(
        self,
        template: Template,
        *,
        parameters: Mapping[str, str] | None = None,
        physical_names: Mapping[str, str] | None = None,
        attributes: Mapping[str, Mapping[str, str]] | None = None,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
    ) -> None:
        self.template = template
        self.stack_name = stack_name
        self.region = region
        self.account_id = LOCAL_ACCOUNT_ID
        self._values = self._parameter_values(parameters or {})
        self._physical_names = dict(physical_names or {})
        self._attributes = {k: dict(v) for k, v in (attributes or {}).items()}
        self._conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()
        self._intrinsics: dict[str, Callable[[Any, str], Any]] = {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Sub": self._sub,
            "Fn::If": self._if,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::FindInMap": self._find_in_map,
            "Fn::Base64": self._base64,
        }

    # -- public API --

    def resolve(self, value: Any, location: str = "") -> Any:
        """`value` with every intrinsic evaluated; keys and items that are `AWS::NoValue` are
        dropped (a top-level `AWS::NoValue` gives None)."""
        result = self._eval(value, location)
        return None if result is _NO_VALUE else result

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            if name not in self.template.conditions:
                raise TemplateError(f"Condition {name!r} is not defined in Conditions")
            if name in self._evaluating:
                raise TemplateError(f"Condition {name!r} depends on itself")
            self._evaluating.add(name)
            try:
                self._conditions[name] = self._truth(
                    self.template.conditions[name], f"Conditions.{name}"
                )
            finally:
                self._evaluating.discard(name)
        return self._conditions[name]

    def is_active(self, logical_id: str) -> bool:
        """Whether the resource exists in this deployment (its Condition holds)."""
        condition = self._resource(logical_id, f"Resources.{logical_id}").condition
        return condition is None or self.condition(condition)

    def active_functions(self) -> list[Function]:
        return [f for f in self.template.functions.values() if self.is_active(f.logical_id)]

    def physical_name(self, logical_id: str) -> str:
        if logical_id in self._physical_names:
            return self._physical_names[logical_id]
        resource = self._resource(logical_id, f"Resources.{logical_id}")
        name_property = _NAME_PROPERTIES.get(resource.type)
        if name_property and name_property in resource.properties:
            where = f"Resources.{logical_id}.Properties.{name_property}"
            name = _scalar(self.resolve(resource.properties[name_property], where), where)
            if resource.type == BUCKET_TYPE and name != name.lower():
                raise TemplateError(f"{where}: S3 bucket names must be lowercase, not {name!r}")
            return name
        name = f"{self.stack_name}-{logical_id}"
        if resource.type == BUCKET_TYPE:
            return name.lower()
        fifo = resource.properties.get("FifoQueue")
        if resource.type == QUEUE_TYPE and _is_true(self.resolve(fifo, f"Resources.{logical_id}")):
            return f"{name}.fifo"  # SQS requires the suffix on FIFO queues
        return name

    def attribute(self, logical_id: str, attribute: str, location: str = "") -> str:
        """`Fn::GetAtt` of a resource, computed as AWS would for the local region and account."""
        known = self._attributes.get(logical_id, {})
        if attribute in known:
            return known[attribute]
        resource = self._resource(logical_id, location)
        name = self.physical_name(logical_id)
        arn_prefix = f"arn:{PARTITION}"
        computed: dict[str, str] = {}
        if resource.type in TABLE_TYPES:
            computed["Arn"] = f"{arn_prefix}:dynamodb:{self.region}:{self.account_id}:table/{name}"
            if attribute == "StreamArn":
                raise TemplateError(
                    f"Fn::GetAtt {logical_id}.StreamArn at {location}: the stream ARN is known "
                    "only once the table exists; pass it in `attributes`"
                )
        elif resource.type == QUEUE_TYPE:
            computed["Arn"] = f"{arn_prefix}:sqs:{self.region}:{self.account_id}:{name}"
            computed["QueueName"] = name
            computed["QueueUrl"] = (
                f"https://sqs.{self.region}.{URL_SUFFIX}/{self.account_id}/{name}"
            )
        elif resource.type == BUCKET_TYPE:
            computed["Arn"] = f"{arn_prefix}:s3:::{name}"
            computed["DomainName"] = f"{name}.s3.{URL_SUFFIX}"
            computed["RegionalDomainName"] = f"{name}.s3.{self.region}.{URL_SUFFIX}"
        elif resource.type == FUNCTION_TYPE:
            computed["Arn"] = f"{arn_prefix}:lambda:{self.region}:{self.account_id}:function:{name}"
        if attribute not in computed:
            raise TemplateError(
                f"Fn::GetAtt {logical_id}.{attribute} at {location}: attribute {attribute!r} of "
                f"{resource.type} is not supported locally"
            )
        return computed[attribute]

    def environment(self, function: Function) -> dict[str, str]:
        """The function's environment variables as Lambda would see them."""
        where = f"Resources.{function.logical_id}.Environment.Variables"
        variables = self.resolve(dict(function.environment), where)
        return {name: _scalar(value, f"{where}.{name}") for name, value in variables.items()}

    # -- evaluation --

    def _eval(self, value: Any, location: str) -> Any:
        if isinstance(value, list):
            items = (self._eval(v, f"{location}[{i}]") for i, v in enumerate(value))
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key in self._intrinsics:
                return self._intrinsics[key](arg, f"{location} ({key})")
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} at {location} is not supported by the local stack")
        resolved = {k: self._eval(v, f"{location}.{k}") for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _parameter_values(self, overrides: Mapping[str, str]) -> dict[str, str]:
        unknown = set(overrides) - set(self.template.parameters)
        if unknown:
            raise TemplateError(f"Unknown template parameters: {', '.join(sorted(unknown))}")
        values: dict[str, str] = {}
        for name, parameter in self.template.parameters.items():
            value = overrides.get(name, parameter.default)
            if value is None:
                continue  # an error only where it is referenced
            if parameter.allowed_values is not None and value not in parameter.allowed_values:
                raise TemplateError(
                    f"Parameter {name}={value!r} is not one of {list(parameter.allowed_values)}"
                )
            if parameter.allowed_pattern is not None and not re.fullmatch(
                parameter.allowed_pattern, value
            ):
                raise TemplateError(
                    f"Parameter {name}={value!r} does not match {parameter.allowed_pattern}"
                )
            values[name] = value
        return values

    def _resource(self, logical_id: str, location: str) -> Resource:
        resource = self.template.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"{location}: no resource named {logical_id!r}")
        return resource

    def _ref(self, name: Any, location: str) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"{location}: Ref takes a name")
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": PARTITION,
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": URL_SUFFIX,
        }
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self.template.parameters:
            parameter = self.template.parameters[name]
            if name not in self._values:
                raise TemplateError(f"{location}: parameter {name} has no default and no value")
            if parameter.type == "CommaDelimitedList":
                return [item.strip() for item in self._values[name].split(",")]
            if parameter.type.startswith("AWS::SSM::Parameter::"):
                raise TemplateError(f"{location}: SSM-typed parameter {name} is not supported")
            return self._values[name]
        if name in self.template.resources:
            if not self.is_active(name):
                raise TemplateError(f"{location}: Ref to {name}, whose Condition is false")
            if self.template.resources[name].type == QUEUE_TYPE:
                return self.attribute(name, "QueueUrl", location)  # Ref of a queue is its URL
            return self.physical_name(name)
        raise TemplateError(f"{location}: Ref to unknown name {name!r}")

    def _get_att(self, arg: Any, location: str) -> str:
        if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)):
            raise TemplateError(f"{location}: Fn::GetAtt takes [LogicalId, Attribute]")
        attribute = self._eval(arg[1], location)
        if not isinstance(attribute, str):
            raise TemplateError(f"{location}: the attribute name must be a string")
        if not self.is_active(arg[0]):
            raise TemplateError(f"{location}: Fn::GetAtt of {arg[0]}, whose Condition is false")
        return self.attribute(arg[0], attribute, location)

    def _sub(self, arg: Any, location: str) -> str:
        text, raw_variables = _sub_parts(arg, location)
        variables = {k: self._eval(v, f"{location}.{k}") for k, v in raw_variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # `${!Literal}` is the escape for a literal `${`
            if name in variables:
                value = variables[name]
            elif "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                value = self._get_att([logical_id, attribute], location)
            else:
                value = self._ref(name, location)
            if value is _NO_VALUE:
                raise TemplateError(f"{location}: ${{{name}}} is AWS::NoValue")
            return _scalar(value, f"{location} ${{{name}}}")

        return _SUB_VARIABLE.sub(substitute, text)

    def _if(self, arg: Any, location: str) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3 and isinstance(arg[0], str)):
            raise TemplateError(f"{location}: Fn::If takes [Condition, then, else]")
        chosen = arg[1] if self.condition(arg[0]) else arg[2]
        return self._eval(chosen, location)

    def _list(self, value: Any, location: str) -> list[Any]:
        resolved = self._eval(value, location)
        if not isinstance(resolved, list):
            raise TemplateError(f"{location}: expected a list")
        return resolved

    def _join(self, arg: Any, location: str) -> str:
        if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)):
            raise TemplateError(f"{location}: Fn::Join takes [delimiter, list]")
        items = self._list(arg[1], location)
        return arg[0].join(_scalar(item, location) for item in items)

    def _select(self, arg: Any, location: str) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            raise TemplateError(f"{location}: Fn::Select takes [index, list]")
        index = int(_scalar(self._eval(arg[0], location), location))
        items = self._list(arg[1], location)
        if not 0 <= index < len(items):
            raise TemplateError(f"{location}: index {index} is outside a list of {len(items)}")
        return items[index]

    def _split(self, arg: Any, location: str) -> list[str]:
        if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str)):
            raise TemplateError(f"{location}: Fn::Split takes [delimiter, string]")
        return _scalar(self._eval(arg[1], location), location).split(arg[0])

    def _find_in_map(self, arg: Any, location: str) -> Any:
        if not (isinstance(arg, list) and len(arg) == 3):
            raise TemplateError(f"{location}: Fn::FindInMap takes [Map, TopKey, SecondKey]")
        keys = [_scalar(self._eval(part, location), location) for part in arg]
        value: Any = self.template.mappings
        for key in keys:
            if not isinstance(value, Mapping) or key not in value:
                raise TemplateError(f"{location}: Mappings has no {'.'.join(keys)}")
            value = value[key]
        return value

    def _base64(self, arg: Any, location: str) -> str:
        text = _scalar(self._eval(arg, location), location)
        return base64.b64encode(text.encode()).decode()

    def _truth(self, expression: Any, location: str) -> bool:
        if not (isinstance(expression, Mapping) and len(expression) == 1):
            raise TemplateError(f"{location}: a condition must be one condition function")
        ((key, arg),) = expression.items()
        where = f"{location} ({key})"
        if key == "Condition":
            if not isinstance(arg, str):
                raise TemplateError(f"{where}: Condition takes a condition name")
            return self.condition(arg)
        if key == "Fn::Equals":
            if not (isinstance(arg, list) and len(arg) == 2):
                raise TemplateError(f"{where}: Fn::Equals takes two values")
            left, right = (self._eval(v, where) for v in arg)
            return bool(_comparable(left) == _comparable(right))
        if key == "Fn::Not":
            if not (isinstance(arg, list) and len(arg) == 1):
                raise TemplateError(f"{where}: Fn::Not takes one condition")
            return not self._truth(arg[0], where)
        if key in ("Fn::And", "Fn::Or"):
            if not (isinstance(arg, list) and 2 <= len(arg) <= 10):
                raise TemplateError(f"{where}: {key} takes 2 to 10 conditions")
            truths: Iterable[bool] = (self._truth(c, f"{where}[{i}]") for i, c in enumerate(arg))
            return all(truths) if key == "Fn::And" else any(truths)
        raise TemplateError(f"{where}: {key} is not a condition function")


def _comparable(value: Any) -> Any:
    return value if isinstance(value, list | Mapping) else _scalar(value, "Fn::Equals")


def _is_true(value: Any) -> bool:
    """CloudFormation booleans arrive as YAML booleans or as the strings "true"/"false"."""
    return value is True or (isinstance(value, str) and value.lower() == "true")
