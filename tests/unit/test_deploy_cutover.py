"""The cutover's Terraform (deploy/terraform/cutover.tf) agrees with the code: the API
reads Timestream and writes only cutover items; the ingest writes Timestream only with
dual-write on; API Gateway invokes an alias of published versions; CodeDeploy is
optional and rolls back on alarms. Parsed with python-hcl2 (no provider, no network)."""

from __future__ import annotations

import inspect
import re
from typing import Any

import hcl2

from onsflux.cutover import state as cutover_state
from tests.unit.test_deploy import TF_DIR, _block, _clean, _lambda_env_names, tf  # noqa: F401, F811


def _doc(name: str) -> dict[str, Any]:
    for path in sorted(TF_DIR.glob("*.tf")):
        with path.open() as fh:
            parsed = _clean(hcl2.load(fh))
        for entry in parsed.get("data", []):
            body = entry.get("aws_iam_policy_document", {}).get(name)
            if body:
                return body  # type: ignore[no-any-return]
    raise AssertionError(f"no aws_iam_policy_document.{name}")


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = list(doc.get("statement", []))
    for dyn in doc.get("dynamic", []):
        if "statement" in dyn:
            out.append(_block(dyn["statement"])["content"][0]
                       if isinstance(_block(dyn["statement"])["content"], list)
                       else _block(dyn["statement"])["content"])
    return out


def test_the_api_reads_timestream_and_writes_only_cutover_items(tf: dict[str, Any]) -> None:  # noqa: F811
    stmts = _statements(_doc("api_cutover"))
    actions = {a for s in stmts for a in s["actions"]}
    assert actions == {"dynamodb:PutItem", "timestream:Select", "timestream:DescribeEndpoints"}
    (put,) = [s for s in stmts if s["actions"] == ["dynamodb:PutItem"]]
    cond = _block(put["condition"])
    assert cond["variable"] == "dynamodb:LeadingKeys"
    # every partition key the DynamoDB cutover store writes is allowed by the condition
    source = inspect.getsource(cutover_state.DynamoCutoverStore)
    keys = set(re.findall(r'"pk": "([^"]+)"', source))
    assert keys == {"cutover", "cutover#audit", "cutover#cmp", "cutover#mis"}
    assert all(k == "cutover" or k.startswith("cutover#") for k in keys)
    assert cond["values"] == ["cutover", "cutover#*"]
    # and the reads it makes are in the API's read policy
    calls = set(re.findall(r'_call\(\s*"(\w+)"', source)) | {"query"}
    needed = {"dynamodb:" + "".join(p.title() for p in c.split("_")) for c in calls}
    read = {a for s in _doc("api")["statement"] for a in s["actions"]}
    assert needed - {"dynamodb:PutItem"} <= read
    (select,) = [s for s in stmts if s["actions"] == ["timestream:Select"]]
    assert select["resources"] == "${local.timestream_tables}"


def test_the_ingest_writes_timestream_only_with_dual_write(tf: dict[str, Any]) -> None:  # noqa: F811
    policy = tf["resource"]["aws_iam_role_policy"]["ingest_dual_write"]
    assert policy["count"] == "${var.dual_write_timestream ? 1 : 0}"
    actions = {a for s in _statements(_doc("ingest_dual_write")) for a in s["actions"]}
    assert actions == {"timestream:WriteRecords", "timestream:DescribeEndpoints"}
    assert "timestream:WriteRecords" not in {a for s in _doc("ingest")["statement"]
                                             for a in s["actions"]}
    env = tf["locals"]["cutover_ingest_environment"]
    assert "var.dual_write_timestream" in env and "ONSFLUX_ALSO_WRITE" in env
    shape = {"ONSFLUX_TIMESTREAM_DATABASE", "ONSFLUX_TIMESTREAM_SHAPE"}
    assert shape | {"ONSFLUX_ALSO_WRITE"} <= _lambda_env_names(tf, "ingest")
    assert shape <= _lambda_env_names(tf, "api")  # blue is read in the shape it is written


def test_api_gateway_invokes_the_alias_of_published_versions(tf: dict[str, Any]) -> None:  # noqa: F811
    fn = tf["resource"]["aws_lambda_function"]["api"]
    assert fn["publish"] is True
    alias = tf["resource"]["aws_lambda_alias"]["api_live"]
    assert alias["function_name"] == "${aws_lambda_function.api.function_name}"
    routing = _block(alias["dynamic"])["routing_config"]
    assert "var.api_canary_weight" in str(routing)
    integ = tf["resource"]["aws_apigatewayv2_integration"]["api"]
    assert integ["integration_uri"] == "${aws_lambda_alias.api_live.invoke_arn}"
    perm = tf["resource"]["aws_lambda_permission"]["api_from_gateway"]
    assert perm["qualifier"] == "${aws_lambda_alias.api_live.name}"


def test_codedeploy_is_optional_and_rolls_back_on_alarms(tf: dict[str, Any]) -> None:  # noqa: F811
    group = tf["resource"]["aws_codedeploy_deployment_group"]["api"]
    assert group["count"] == "${var.enable_codedeploy ? 1 : 0}"
    rollback = _block(group["auto_rollback_configuration"])
    assert rollback["enabled"] is True and "DEPLOYMENT_STOP_ON_ALARM" in rollback["events"]
    alarms = _block(group["alarm_configuration"])["alarms"]
    assert "aws_cloudwatch_metric_alarm.api_live_errors.alarm_name" in alarms
    style = _block(group["deployment_style"])
    assert style == {"deployment_type": "BLUE_GREEN", "deployment_option": "WITH_TRAFFIC_CONTROL"}
    default = tf["variable"]["codedeploy_config"]["default"]
    assert default.startswith("CodeDeployDefault.LambdaCanary")
    alarm = tf["resource"]["aws_cloudwatch_metric_alarm"]["api_live_errors"]
    assert alarm["namespace"] == "AWS/Lambda" and alarm["metric_name"] == "Errors"
    assert "aws_lambda_alias.api_live.name" in str(alarm["dimensions"])
