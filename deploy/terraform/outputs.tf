output "api_url" {
  description = "Base URL of the onsflux HTTP API (POST /query, GET /health)."
  value       = aws_apigatewayv2_stage.default.invoke_url
}

output "influxdb_url" {
  description = "INFLUXDB_URL the Lambdas use."
  value       = local.influxdb_url
}

output "influxdb_instance_id" {
  description = "Timestream for InfluxDB instance id."
  value       = aws_timestreaminfluxdb_db_instance.this.id
}

output "influxdb_admin_secret_arn" {
  description = "Secret AWS created with the InfluxDB admin credentials (to create the onsflux token)."
  value       = aws_timestreaminfluxdb_db_instance.this.influx_auth_parameters_secret_arn
}

output "influxdb_token_secret_arn" {
  description = "Secret to store the onsflux InfluxDB token in."
  value       = aws_secretsmanager_secret.influxdb_token.arn
}

output "api_keys_secret_arn" {
  description = "Secret to store the HTTP API keys in (comma separated)."
  value       = aws_secretsmanager_secret.api_keys.arn
}

output "processed_bucket" {
  description = "Bucket of the processed files; uploads under processed_prefix are ingested."
  value       = aws_s3_bucket.processed.bucket
}

output "state_table" {
  description = "DynamoDB state table (ONSFLUX_STATE=dynamodb://<this>)."
  value       = aws_dynamodb_table.state.name
}

output "dead_letter_queue_url" {
  description = "SQS queue of onsflux dead letters (ONSFLUX_DLQ_QUEUE_URL)."
  value       = aws_sqs_queue.dead_letters.url
}

output "ingest_failures_queue_url" {
  description = "SQS queue of failed ingest invocations (Lambda on-failure destination)."
  value       = aws_sqs_queue.ingest_failures.url
}

output "ingest_function_name" {
  description = "Ingest Lambda."
  value       = aws_lambda_function.ingest.function_name
}

output "api_function_name" {
  description = "API Lambda."
  value       = aws_lambda_function.api.function_name
}

output "lambda_security_group_id" {
  description = "Security group of the Lambdas (the only default source allowed into InfluxDB)."
  value       = aws_security_group.lambda.id
}

output "alarms_topic_arn" {
  description = "SNS topic every alarm notifies (subscribe paging or chat here)."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard: migration progress, ingest, API, InfluxDB, cutover."
  value       = aws_cloudwatch_dashboard.ops.dashboard_name
}
