# onsflux on AWS: S3 (processed files) -> ingest Lambda -> Timestream for InfluxDB,
# API Gateway HTTP API -> API Lambda -> InfluxDB (S3 Parquet fallback), DynamoDB state,
# SQS dead letters. See deploy/README.md for the order of operations.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  tags = merge({
    Project     = "onsflux"
    Environment = var.environment
    ManagedBy   = "terraform"
  }, var.tags)

  # the handlers in src/onsflux/handlers.py
  ingest_handler = "onsflux.handlers.s3_ingest"
  api_handler    = "onsflux.handlers.api"

  use_image = var.lambda_image_uri != null

  # Timestream for InfluxDB serves HTTPS on 8086 (the default port)
  influxdb_port = 8086
  influxdb_url  = "https://${aws_timestreaminfluxdb_db_instance.this.endpoint}:${local.influxdb_port}"

  # Environment of the Lambdas: only names onsflux.settings.Settings reads
  # (tests/unit/test_deploy.py checks this).
  common_environment = {
    INFLUXDB_URL      = local.influxdb_url
    INFLUXDB_ORG      = var.influxdb_org
    ONSFLUX_STATE     = "dynamodb://${aws_dynamodb_table.state.name}"
    ONSFLUX_STATE_DIR = "/tmp/onsflux" # the code folder is read-only on Lambda
  }
  ingest_environment = {
    ONSFLUX_DLQ_QUEUE_URL = aws_sqs_queue.dead_letters.url
  }
  api_environment = {
    ONSFLUX_FALLBACK_PATH = "s3://${aws_s3_bucket.processed.bucket}/${var.processed_prefix}"
  }
  # the secrets' ARNs only: onsflux reads the values from Secrets Manager at cold start
  token_environment = {
    ONSFLUX_INFLUXDB_TOKEN_SECRET_ARN = aws_secretsmanager_secret.influxdb_token.arn
  }
  api_keys_environment = {
    ONSFLUX_API_KEYS_SECRET_ARN = aws_secretsmanager_secret.api_keys.arn
  }
}
