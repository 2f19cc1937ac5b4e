"""The Terraform in deploy/terraform agrees with the code it deploys.

Parsed with python-hcl2 (no provider, no network): handler names, the Lambdas'
environment variable names, the DynamoDB key schema, the Timestream for InfluxDB
arguments, the S3 trigger, the API Gateway integration, the IAM actions.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest
from pydantic import AliasChoices

from onsflux import handlers
from onsflux.settings import Settings
from onsflux.state.dynamodb import DynamoStateStore

TF_DIR = Path(__file__).resolve().parents[2] / "deploy" / "terraform"

# aws_timestreaminfluxdb_db_instance in the AWS provider 5.x
INFLUX_REQUIRED = {"allocated_storage", "db_instance_type", "name", "password",
                   "vpc_security_group_ids", "vpc_subnet_ids"}
INFLUX_KNOWN = INFLUX_REQUIRED | {
    "bucket", "organization", "username", "db_storage_type", "deployment_type",
    "publicly_accessible", "port", "db_parameter_group_identifier",
    "log_delivery_configuration", "tags", "timeouts",
}
# RDS arguments the original design used for this resource; none exists on it
INFLUX_WRONG = {"db_name", "engine", "engine_version", "backup_window", "backup_retention_period",
                "maintenance_window", "apply_immediately", "auto_minor_version_upgrade",
                "availability_zone", "db_parameter_group_name", "storage_encrypted",
                "db_subnet_group_name"}


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _clean(node: Any) -> Any:
    """python-hcl2 output without its quoting (v7+) and bookkeeping keys."""
    if isinstance(node, dict):
        return {_unquote(k): _clean(v) for k, v in node.items() if not k.startswith("__")}
    if isinstance(node, list):
        return [_clean(v) for v in node]
    if isinstance(node, str):
        return _unquote(node)
    return node


def _block(value: Any) -> dict[str, Any]:
    """A nested block: python-hcl2 gives a list of one dict."""
    return value[0] if isinstance(value, list) else value


@pytest.fixture(scope="module")
def tf() -> dict[str, Any]:
    files = sorted(TF_DIR.glob("*.tf"))
    assert files, f"no Terraform files in {TF_DIR}"
    resources: dict[str, dict[str, Any]] = {}
    locals_: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    for path in files:
        with path.open() as fh:
            doc = _clean(hcl2.load(fh))
        for entry in doc.get("resource", []):
            for rtype, named in entry.items():
                for name, body in named.items():
                    assert name not in resources.setdefault(rtype, {}), f"{rtype}.{name} twice"
                    resources[rtype][name] = body
        for entry in doc.get("locals", []):
            locals_.update(entry)
        for entry in doc.get("variable", []):
            variables.update(entry)
    return {"resource": resources, "locals": locals_, "variable": variables}


def _resolve(tf: dict[str, Any], expr: str) -> Any:
    """``${local.x}`` / ``${var.x}`` (its default) -> the value; anything else unchanged."""
    m = re.fullmatch(r"\$\{local\.(\w+)\}", expr)
    if m:
        return tf["locals"][m.group(1)]
    m = re.fullmatch(r"\$\{var\.(\w+)\}", expr)
    if m:
        return tf["variable"][m.group(1)].get("default")
    return expr


def _settings_env_names() -> set[str]:
    names: set[str] = set()
    prefix = Settings.model_config.get("env_prefix", "")
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(c for c in alias.choices if isinstance(c, str))
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(f"{prefix}{name}")
    return {n.upper() for n in names}


def _lambda_env_names(tf: dict[str, Any], function: str) -> set[str]:
    env = _block(tf["resource"]["aws_lambda_function"][function]["environment"])["variables"]
    names: set[str] = set()
    if isinstance(env, dict):
        return set(env)
    referenced = re.findall(r"local\.(\w+)", env)
    assert referenced, f"{function}: environment is neither a map nor built from locals: {env}"
    for local in referenced:
        value = tf["locals"][local]
        if isinstance(value, dict):
            names.update(value)
        else:  # a conditional map such as `cond ? {NAME = ...} : {}`
            names.update(re.findall(r"\b([A-Z][A-Z0-9_]*)\s*=", value))
    return names


def _policy_actions(name: str) -> set[str]:
    for path in sorted(TF_DIR.glob("*.tf")):
        with path.open() as fh:
            parsed = _clean(hcl2.load(fh))
        for entry in parsed.get("data", []):
            body = entry.get("aws_iam_policy_document", {}).get(name)
            if body:
                return {a for st in body["statement"] for a in st["actions"]}
    raise AssertionError(f"no aws_iam_policy_document.{name}")


FUNCTIONS = {"ingest": "s3_ingest", "api": "api"}


@pytest.mark.parametrize(("function", "handler"), sorted(FUNCTIONS.items()))
def test_lambda_handlers_exist(tf: dict[str, Any], function: str, handler: str) -> None:
    body = tf["resource"]["aws_lambda_function"][function]
    local = re.search(r"local\.(\w+_handler)", body["handler"])
    assert local, body["handler"]
    dotted = tf["locals"][local.group(1)]
    assert dotted == f"onsflux.handlers.{handler}"
    assert callable(getattr(handlers, dotted.rsplit(".", 1)[1]))
    # the container image runs the same handler
    image_config = _block(body["dynamic"])["image_config"]
    assert local.group(1) in image_config["for_each"]


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_lambda_environment_names_are_settings(tf: dict[str, Any], function: str) -> None:
    names = _lambda_env_names(tf, function)
    unknown = names - _settings_env_names()
    assert not unknown, f"{function} sets variables Settings never reads: {sorted(unknown)}"


def test_lambda_environment_has_what_each_job_needs(tf: dict[str, Any]) -> None:
    common = {"INFLUXDB_URL", "INFLUXDB_ORG", "ONSFLUX_INFLUXDB_TOKEN_SECRET_ARN", "ONSFLUX_STATE"}
    assert common | {"ONSFLUX_DLQ_QUEUE_URL"} <= _lambda_env_names(tf, "ingest")
    assert common | {"ONSFLUX_API_KEYS_SECRET_ARN", "ONSFLUX_FALLBACK_PATH"} <= _lambda_env_names(
        tf, "api")
    env = tf["locals"]["common_environment"]
    assert env["ONSFLUX_STATE"].startswith("dynamodb://${aws_dynamodb_table.state.")
    assert env["INFLUXDB_URL"] == "${local.influxdb_url}"
    assert tf["locals"]["influxdb_url"].startswith("https://${aws_timestreaminfluxdb_db_instance.")
    assert _resolve(tf, env["INFLUXDB_ORG"]) == "ons-energy"
    assert tf["locals"]["api_environment"]["ONSFLUX_FALLBACK_PATH"].startswith(
        "s3://${aws_s3_bucket.processed.bucket}/")


def test_dynamodb_key_schema_matches_the_state_store(tf: dict[str, Any]) -> None:
    captured: dict[str, Any] = {}

    class FakeClient:
        def create_table(self, **kwargs: Any) -> None:
            captured.update(kwargs)

    store = object.__new__(DynamoStateStore)
    store.table, store._ddb = "t", FakeClient()
    store.create_table()
    keys = {k["KeyType"]: k["AttributeName"] for k in captured["KeySchema"]}
    types = {a["AttributeName"]: a["AttributeType"] for a in captured["AttributeDefinitions"]}

    table = tf["resource"]["aws_dynamodb_table"]["state"]
    assert table["hash_key"] == keys["HASH"] == "pk"
    assert table["range_key"] == keys["RANGE"] == "sk"
    assert {a["name"]: a["type"] for a in table["attribute"]} == types == {"pk": "S", "sk": "S"}
    assert table["billing_mode"] == captured["BillingMode"] == "PAY_PER_REQUEST"
    assert _block(table["point_in_time_recovery"])["enabled"] is True
    assert _block(table["server_side_encryption"])["enabled"] is True


def test_state_table_iam_covers_the_calls_the_store_makes(tf: dict[str, Any]) -> None:
    import inspect

    import onsflux.state.dynamodb as module

    source = inspect.getsource(module)
    calls = set(re.findall(r'_call\(\s*"(\w+)"', source)) | set(re.findall(r"_ddb\.(\w+)\(", source))
    calls.discard("create_table")  # tests and first deployments only; Terraform owns the table
    needed = {"dynamodb:" + "".join(p.title() for p in c.split("_")) for c in calls}
    assert needed, "found no DynamoDB calls in onsflux.state.dynamodb"
    ingest = _policy_actions("ingest")
    assert needed <= ingest, f"ingest role misses {sorted(needed - ingest)}"
    assert "sqs:SendMessage" in ingest
    assert {"dynamodb:Scan", "dynamodb:GetItem"} <= _policy_actions("api")


def test_influxdb_instance_uses_only_real_arguments(tf: dict[str, Any]) -> None:
    (instance,) = tf["resource"]["aws_timestreaminfluxdb_db_instance"].values()
    args = set(instance) - {"lifecycle", "depends_on", "count", "for_each", "provider"}
    assert args >= INFLUX_REQUIRED, f"missing {sorted(INFLUX_REQUIRED - args)}"
    assert args <= INFLUX_KNOWN, f"unknown arguments {sorted(args - INFLUX_KNOWN)}"
    assert not args & INFLUX_WRONG
    assert _resolve(tf, instance["organization"]) == "ons-energy"
    assert _resolve(tf, instance["bucket"]) == "generation_data"
    assert instance["publicly_accessible"] is False
    assert "aws_security_group.influxdb.id" in str(instance["vpc_security_group_ids"])


def test_influxdb_reachable_only_from_the_lambdas(tf: dict[str, Any]) -> None:
    rules = tf["resource"]["aws_vpc_security_group_ingress_rule"]
    into_influx = {n: r for n, r in rules.items() if "aws_security_group.influxdb" in r["security_group_id"]}
    assert into_influx
    for name, rule in into_influx.items():
        assert rule["from_port"] == rule["to_port"] == "${local.influxdb_port}"
        assert "cidr_ipv4" not in rule and "cidr_ipv6" not in rule, name
    sources = {r["referenced_security_group_id"] for r in into_influx.values()}
    assert sources == {"${aws_security_group.lambda.id}", "${each.value}"}
    assert tf["variable"]["operator_security_group_ids"]["default"] == []
    assert tf["locals"]["influxdb_port"] == 8086


def test_s3_notification_targets_the_ingest_function(tf: dict[str, Any]) -> None:
    (notification,) = tf["resource"]["aws_s3_bucket_notification"].values()
    assert notification["bucket"] == "${aws_s3_bucket.processed.id}"
    target = _block(notification["lambda_function"])
    assert target["lambda_function_arn"] == "${aws_lambda_function.ingest.arn}"
    assert target["events"] == ["s3:ObjectCreated:*"]
    permission = tf["resource"]["aws_lambda_permission"]["ingest_from_s3"]
    assert permission["function_name"] == "${aws_lambda_function.ingest.function_name}"
    assert permission["principal"] == "s3.amazonaws.com"
    assert permission["source_arn"] == "${aws_s3_bucket.processed.arn}"


def test_ingest_failures_go_to_an_encrypted_queue(tf: dict[str, Any]) -> None:
    config = tf["resource"]["aws_lambda_function_event_invoke_config"]["ingest"]
    assert config["function_name"] == "${aws_lambda_function.ingest.function_name}"
    on_failure = _block(_block(config["destination_config"])["on_failure"])
    queue = re.fullmatch(r"\$\{aws_sqs_queue\.(\w+)\.arn\}", on_failure["destination"])
    assert queue
    for name in (queue.group(1), "dead_letters"):
        assert tf["resource"]["aws_sqs_queue"][name]["sqs_managed_sse_enabled"] is True


def test_http_api_proxies_everything_to_the_api_function(tf: dict[str, Any]) -> None:
    (api,) = tf["resource"]["aws_apigatewayv2_api"].values()
    assert api["protocol_type"] == "HTTP"
    integration = tf["resource"]["aws_apigatewayv2_integration"]["api"]
    assert integration["integration_type"] == "AWS_PROXY"
    assert integration["payload_format_version"] == "2.0"
    assert integration["integration_uri"] == "${aws_lambda_alias.api_live.invoke_arn}"
    route = tf["resource"]["aws_apigatewayv2_route"]["default"]
    assert route["route_key"] == "$default"
    assert route["target"] == "integrations/${aws_apigatewayv2_integration.api.id}"
