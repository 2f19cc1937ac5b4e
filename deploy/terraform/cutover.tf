# Blue-green cutover from Amazon Timestream (blue) to Timestream for InfluxDB (green).
#
# Two independent switches:
# - data: the in-app router (src/onsflux/cutover) serves each query from the backend the
#   cutover phase in the state table says; the API reads Timestream read-only for that
#   (Select, DescribeEndpoints) and writes only the cutover items of the state table
#   (comparisons, mismatches, an automatic rollback);
# - code: the API Lambda is published as versions behind the alias "live"; a new version
#   can take a weighted share (api_canary_version/api_canary_weight), or CodeDeploy can
#   shift traffic with a canary configuration and roll back on the CloudWatch alarms.
# Dual-write (ingest also writes to Timestream, so a rollback loses nothing) is granted
# only when dual_write_timestream = true.

locals {
  timestream_enabled = var.timestream_blue_database != null
  timestream_tables = local.timestream_enabled ? [
    for t in ["generation_data", "consumption_data", "transmission_data"] :
    "arn:${data.aws_partition.current.partition}:timestream:${var.region}:${data.aws_caller_identity.current.account_id}:database/${var.timestream_blue_database}/table/${t}"
  ] : []
  # blue is read, and dual-written, in one shape (multi-measure or the legacy single)
  cutover_api_environment = local.timestream_enabled ? {
    ONSFLUX_TIMESTREAM_DATABASE = var.timestream_blue_database
    ONSFLUX_TIMESTREAM_SHAPE    = var.timestream_shape
  } : {}
  cutover_ingest_environment = var.dual_write_timestream ? {
    ONSFLUX_ALSO_WRITE          = "timestream"
    ONSFLUX_TIMESTREAM_DATABASE = var.timestream_blue_database
    ONSFLUX_TIMESTREAM_SHAPE    = var.timestream_shape
  } : {}
}

# ------------------------------------------------------------------ IAM (least privilege)

data "aws_iam_policy_document" "api_cutover" {
  statement {
    sid = "CutoverStateItems"
    # the calls src/onsflux/cutover/state.py makes (DynamoCutoverStore): conditional
    # PutItem for transitions, PutItem for comparisons and mismatch records
    actions   = ["dynamodb:PutItem"]
    resources = [aws_dynamodb_table.state.arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["cutover", "cutover#*"]
    }
  }
  dynamic "statement" {
    for_each = local.timestream_enabled ? [1] : []
    content {
      sid       = "TimestreamBlueReadOnly"
      actions   = ["timestream:Select"]
      resources = local.timestream_tables
    }
  }
  dynamic "statement" {
    for_each = local.timestream_enabled ? [1] : []
    content {
      sid = "TimestreamEndpoints"
      # DescribeEndpoints supports no resource-level permission: "*" is the only form
      actions   = ["timestream:DescribeEndpoints"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "api_cutover" {
  name   = "onsflux-api-cutover"
  role   = aws_iam_role.api.id
  policy = data.aws_iam_policy_document.api_cutover.json
}

data "aws_iam_policy_document" "ingest_dual_write" {
  statement {
    sid       = "TimestreamDualWrite"
    actions   = ["timestream:WriteRecords"]
    resources = local.timestream_tables
  }
  statement {
    sid       = "TimestreamEndpoints"
    actions   = ["timestream:DescribeEndpoints"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "ingest_dual_write" {
  count  = var.dual_write_timestream ? 1 : 0
  name   = "onsflux-ingest-dual-write"
  role   = aws_iam_role.ingest.id
  policy = data.aws_iam_policy_document.ingest_dual_write.json

  lifecycle {
    precondition {
      condition     = !var.dual_write_timestream || var.timestream_blue_database != null
      error_message = "dual_write_timestream needs timestream_blue_database."
    }
  }
}

# ------------------------------------------------------------------ versions and the alias

resource "aws_lambda_alias" "api_live" {
  name             = "live"
  description      = "what API Gateway invokes; a canary version can take a weighted share"
  function_name    = aws_lambda_function.api.function_name
  function_version = coalesce(var.api_stable_version, aws_lambda_function.api.version)

  dynamic "routing_config" {
    for_each = var.api_canary_version != null ? [1] : []
    content {
      additional_version_weights = {
        (var.api_canary_version) = var.api_canary_weight
      }
    }
  }

  lifecycle {
    # CodeDeploy moves the alias itself during a deployment
    ignore_changes = [function_version, routing_config]
  }
}

resource "aws_cloudwatch_metric_alarm" "api_live_errors" {
  alarm_name          = "${var.name}-api-live-errors"
  alarm_description   = "API Lambda errors on the live alias (CodeDeploy rolls back on it). Runbook: ${local.runbooks}api-live-errors.md"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.api.function_name, Resource = "${aws_lambda_function.api.function_name}:${aws_lambda_alias.api_live.name}" }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = var.api_error_alarm_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# ------------------------------------------------------------------ CodeDeploy (optional)

data "aws_iam_policy_document" "codedeploy_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["codedeploy.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "codedeploy" {
  count              = var.enable_codedeploy ? 1 : 0
  name               = "${var.name}-codedeploy"
  assume_role_policy = data.aws_iam_policy_document.codedeploy_assume.json
}

resource "aws_iam_role_policy_attachment" "codedeploy" {
  count      = var.enable_codedeploy ? 1 : 0
  role       = aws_iam_role.codedeploy[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited"
}

resource "aws_codedeploy_app" "api" {
  count            = var.enable_codedeploy ? 1 : 0
  name             = "${var.name}-api"
  compute_platform = "Lambda"
}

resource "aws_codedeploy_deployment_group" "api" {
  count                  = var.enable_codedeploy ? 1 : 0
  app_name               = aws_codedeploy_app.api[0].name
  deployment_group_name  = "${var.name}-api-live"
  service_role_arn       = aws_iam_role.codedeploy[0].arn
  deployment_config_name = var.codedeploy_config

  deployment_style {
    deployment_type   = "BLUE_GREEN"
    deployment_option = "WITH_TRAFFIC_CONTROL"
  }

  auto_rollback_configuration {
    enabled = true
    events  = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
  }

  alarm_configuration {
    enabled = true
    alarms  = concat([aws_cloudwatch_metric_alarm.api_live_errors.alarm_name], var.codedeploy_alarm_names)
  }
}
