# Operations: an SNS topic, CloudWatch alarms (each linked to its runbook in
# deploy/runbooks/<slug>.md) and one dashboard.
#
# Two kinds of metrics:
# - AWS's own: AWS/Timestream/InfluxDB (CPUUtilization, DiskUtilization, TotalIOpsPerSec,
#   dimension DbInstanceName), AWS/Lambda (Errors, Throttles, Duration), AWS/SQS
#   (ApproximateNumberOfMessagesVisible).
# - onsflux's: namespace "onsflux", dimension service=onsflux, emitted by the Lambdas as
#   embedded metric format log lines (src/onsflux/metrics.py: same names as /metrics).
#   AWS/Timestream/InfluxDB publishes no engine write-error metric, so the engine's write
#   errors are counted where the writer sees them: onsflux_influx_write_errors_total.
# tests/unit/test_ops_wiring.py ties every onsflux name here to the code's catalog, every
# alarm to a runbook and a Prometheus twin, and every emitted metric to a dashboard widget.

locals {
  metric_namespace = "onsflux"
  metric_service   = { service = "onsflux" }
  runbooks         = "${var.runbook_url_prefix}/"

  # provisioned IOPS of each Timestream for InfluxDB storage tier
  influxdb_tier_iops = {
    InfluxIOIncludedT1 = 3000
    InfluxIOIncludedT2 = 12000
    InfluxIOIncludedT3 = 16000
  }
  # keep about 30% headroom below the tier's IOPS
  influxdb_iops_alarm = floor(local.influxdb_tier_iops[var.influxdb_storage_type] * 0.7)

  lambdas = {
    ingest = { name = aws_lambda_function.ingest.function_name, timeout = var.ingest_timeout_seconds }
    api    = { name = aws_lambda_function.api.function_name, timeout = var.api_timeout_seconds }
  }
  queues = {
    dead-letters    = aws_sqs_queue.dead_letters.name
    ingest-failures = aws_sqs_queue.ingest_failures.name
  }
  alarm_actions = [aws_sns_topic.alarms.arn]
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = "alias/aws/sns"
}

resource "aws_sns_topic_subscription" "alarm_email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

# ------------------------------------------------------------------ InfluxDB instance

resource "aws_cloudwatch_metric_alarm" "influxdb_cpu" {
  alarm_name          = "${var.name}-influxdb-cpu"
  alarm_description   = "InfluxDB instance CPU above 90% for 5 minutes. Runbook: ${local.runbooks}influxdb-cpu.md"
  namespace           = "AWS/Timestream/InfluxDB"
  metric_name         = "CPUUtilization"
  dimensions          = { DbInstanceName = aws_timestreaminfluxdb_db_instance.this.name }
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 5
  threshold           = 90
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "influxdb_disk_warning" {
  alarm_name          = "${var.name}-influxdb-disk-warning"
  alarm_description   = "InfluxDB disk above 75% (warning). Runbook: ${local.runbooks}influxdb-disk-warning.md"
  namespace           = "AWS/Timestream/InfluxDB"
  metric_name         = "DiskUtilization"
  dimensions          = { DbInstanceName = aws_timestreaminfluxdb_db_instance.this.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 75
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "influxdb_disk_critical" {
  alarm_name          = "${var.name}-influxdb-disk-critical"
  alarm_description   = "InfluxDB disk above 85% (critical). Runbook: ${local.runbooks}influxdb-disk-critical.md"
  namespace           = "AWS/Timestream/InfluxDB"
  metric_name         = "DiskUtilization"
  dimensions          = { DbInstanceName = aws_timestreaminfluxdb_db_instance.this.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 85
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "influxdb_iops_headroom" {
  alarm_name          = "${var.name}-influxdb-iops-headroom"
  alarm_description   = "InfluxDB IOPS above 70% of the storage tier's (less than 30% headroom) for 15 minutes. Runbook: ${local.runbooks}influxdb-iops-headroom.md"
  namespace           = "AWS/Timestream/InfluxDB"
  metric_name         = "TotalIOpsPerSec"
  dimensions          = { DbInstanceName = aws_timestreaminfluxdb_db_instance.this.name }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  threshold           = local.influxdb_iops_alarm
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "influxdb_write_errors" {
  alarm_name          = "${var.name}-influxdb-write-errors"
  alarm_description   = "InfluxDB refused batches or failed them after every retry. Runbook: ${local.runbooks}influxdb-write-errors.md"
  namespace           = local.metric_namespace
  metric_name         = "onsflux_influx_write_errors_total"
  dimensions          = local.metric_service
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "influxdb_breaker_open" {
  alarm_name          = "${var.name}-influxdb-breaker-open"
  alarm_description   = "The circuit breaker in front of InfluxDB is open: calls fail fast, queries go to the fallback. Runbook: ${local.runbooks}influxdb-breaker-open.md"
  namespace           = local.metric_namespace
  metric_name         = "onsflux_influx_breaker_state"
  dimensions          = local.metric_service
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 2
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# ------------------------------------------------------------------ Lambdas

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  for_each            = local.lambdas
  alarm_name          = "${var.name}-${each.key}-lambda-errors"
  alarm_description   = "The ${each.key} Lambda raised errors. Runbook: ${local.runbooks}lambda-errors.md"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value.name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "lambda_throttles" {
  for_each            = local.lambdas
  alarm_name          = "${var.name}-${each.key}-lambda-throttles"
  alarm_description   = "The ${each.key} Lambda was throttled. Runbook: ${local.runbooks}lambda-throttles.md"
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = each.value.name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "lambda_duration_p95" {
  for_each            = local.lambdas
  alarm_name          = "${var.name}-${each.key}-lambda-duration-p95"
  alarm_description   = "The ${each.key} Lambda's p95 duration is above 80% of its timeout. Runbook: ${local.runbooks}lambda-duration-p95.md"
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = each.value.name }
  extended_statistic  = "p95"
  period              = 300
  evaluation_periods  = 3
  threshold           = each.value.timeout * 1000 * 0.8
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# ------------------------------------------------------------------ dead letters

resource "aws_cloudwatch_metric_alarm" "dlq_depth" {
  for_each            = local.queues
  alarm_name          = "${var.name}-${each.key}-dlq-depth"
  alarm_description   = "Messages waiting in ${each.value}: objects that failed and need a replay. Runbook: ${local.runbooks}dlq-depth.md"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "ingest_verify_mismatch" {
  alarm_name          = "${var.name}-ingest-verify-mismatch"
  alarm_description   = "An ingested object read back fewer points than it wrote. Runbook: ${local.runbooks}ingest-verify-mismatch.md"
  namespace           = local.metric_namespace
  metric_name         = "onsflux_ingest_verify_mismatches_total"
  dimensions          = local.metric_service
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# ------------------------------------------------------------------ API

resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = "${var.name}-api-5xx-rate"
  alarm_description   = "More than 1% of API requests answered 5xx over 5 minutes (3 of 3). Runbook: ${local.runbooks}api-5xx-rate.md"
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "rate"
    expression  = "100 * FILL(errors, 0) / requests"
    label       = "5xx (% of requests)"
    return_data = true
  }
  metric_query {
    id = "errors"
    metric {
      namespace   = local.metric_namespace
      metric_name = "onsflux_api_server_errors_total"
      dimensions  = local.metric_service
      stat        = "Sum"
      period      = 300
    }
  }
  metric_query {
    id = "requests"
    metric {
      namespace   = local.metric_namespace
      metric_name = "onsflux_api_requests_total"
      dimensions  = local.metric_service
      stat        = "Sum"
      period      = 300
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "api_latency_p95" {
  alarm_name          = "${var.name}-api-latency-p95"
  alarm_description   = "API p95 latency above 1 s for 15 minutes. Runbook: ${local.runbooks}api-latency-p95.md"
  namespace           = local.metric_namespace
  metric_name         = "onsflux_api_request_seconds"
  dimensions          = local.metric_service
  extended_statistic  = "p95"
  period              = 300
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# ------------------------------------------------------------------ migration

resource "aws_cloudwatch_metric_alarm" "migrate_partitions_failed" {
  alarm_name          = "${var.name}-migrate-partitions-failed"
  alarm_description   = "Migration partitions failed. Runbook: ${local.runbooks}migrate-partitions-failed.md"
  namespace           = local.metric_namespace
  metric_name         = "onsflux_migrate_partitions_failed_total"
  dimensions          = local.metric_service
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "sync_lag" {
  alarm_name          = "${var.name}-sync-lag"
  alarm_description   = "migrate sync is more than 15 minutes behind Timestream. Runbook: ${local.runbooks}sync-lag.md"
  namespace           = local.metric_namespace
  metric_name         = "onsflux_migrate_sync_lag_seconds"
  dimensions          = local.metric_service
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  threshold           = 900
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "missing"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# ------------------------------------------------------------------ cutover

resource "aws_cloudwatch_metric_alarm" "cutover_consistency" {
  alarm_name          = "${var.name}-cutover-consistency"
  alarm_description   = "Shadow comparisons match less than 99.9%: blue and green disagree. Runbook: ${local.runbooks}cutover-consistency.md (rollback: ${local.runbooks}cutover-rollback.md)"
  namespace           = local.metric_namespace
  metric_name         = "onsflux_cutover_consistency_ratio"
  dimensions          = local.metric_service
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0.999
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# ------------------------------------------------------------------ dashboard

resource "aws_cloudwatch_dashboard" "ops" {
  dashboard_name = "${var.name}-ops"
  dashboard_body = templatefile("${path.module}/dashboard.json.tftpl", {
    region          = var.region
    instance        = aws_timestreaminfluxdb_db_instance.this.name
    ingest_function = aws_lambda_function.ingest.function_name
    api_function    = aws_lambda_function.api.function_name
    dead_letters    = aws_sqs_queue.dead_letters.name
    ingest_failures = aws_sqs_queue.ingest_failures.name
  })
}
