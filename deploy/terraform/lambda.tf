# ------------------------------------------------------------------ IAM

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "ingest" {
  name               = "${var.name}-ingest"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role" "api" {
  name               = "${var.name}-api"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

# ENIs in the VPC (the AWS managed policy: ec2:CreateNetworkInterface & co., logs)
resource "aws_iam_role_policy_attachment" "ingest_vpc" {
  role       = aws_iam_role.ingest.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

resource "aws_iam_role_policy_attachment" "api_vpc" {
  role       = aws_iam_role.api.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

data "aws_iam_policy_document" "ingest" {
  statement {
    sid       = "ReadProcessedFiles"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.processed.arn}/${var.processed_prefix}*"]
  }
  statement {
    sid       = "ListProcessedFiles"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.processed.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.processed_prefix, "${var.processed_prefix}*"]
    }
  }
  statement {
    sid = "StateTable"
    # the calls src/onsflux/state/dynamodb.py makes
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:BatchWriteItem",
      "dynamodb:Query",
      "dynamodb:Scan",
    ]
    resources = [aws_dynamodb_table.state.arn]
  }
  statement {
    sid       = "DeadLettersAndFailures"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn, aws_sqs_queue.ingest_failures.arn]
  }
  statement {
    sid       = "InfluxToken"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.influxdb_token.arn]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.ingest.arn}:*"]
  }
}

data "aws_iam_policy_document" "api" {
  statement {
    sid       = "ReadFallbackFiles"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.processed.arn}/${var.processed_prefix}*"]
  }
  statement {
    sid       = "ListFallbackFiles"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.processed.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.processed_prefix, "${var.processed_prefix}*"]
    }
  }
  statement {
    sid       = "StateTableRead"
    actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"]
    resources = [aws_dynamodb_table.state.arn]
  }
  statement {
    sid     = "Secrets"
    actions = ["secretsmanager:GetSecretValue"]
    resources = [
      aws_secretsmanager_secret.influxdb_token.arn,
      aws_secretsmanager_secret.api_keys.arn,
    ]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.api.arn}:*"]
  }
}

resource "aws_iam_role_policy" "ingest" {
  name   = "onsflux-ingest"
  role   = aws_iam_role.ingest.id
  policy = data.aws_iam_policy_document.ingest.json
}

resource "aws_iam_role_policy" "api" {
  name   = "onsflux-api"
  role   = aws_iam_role.api.id
  policy = data.aws_iam_policy_document.api.json
}

# ------------------------------------------------------------------ logs

resource "aws_cloudwatch_log_group" "ingest" {
  name              = "/aws/lambda/${var.name}-ingest"
  retention_in_days = var.log_retention_days
}

resource "aws_cloudwatch_log_group" "api" {
  name              = "/aws/lambda/${var.name}-api"
  retention_in_days = var.log_retention_days
}

# ------------------------------------------------------------------ functions

resource "aws_lambda_function" "ingest" {
  #checkov:skip=CKV_AWS_116:failed asynchronous invocations go to the on-failure destination (aws_lambda_function_event_invoke_config.ingest), which records the error too
  function_name = "${var.name}-ingest"
  description   = "onsflux: ingest the S3 objects an event names into InfluxDB"
  role          = aws_iam_role.ingest.arn
  architectures = [var.lambda_architecture]
  memory_size   = var.ingest_memory_mb
  timeout       = var.ingest_timeout_seconds

  reserved_concurrent_executions = var.ingest_reserved_concurrency

  package_type     = local.use_image ? "Image" : "Zip"
  image_uri        = var.lambda_image_uri
  s3_bucket        = one(aws_s3_object.lambda_zip[*].bucket)
  s3_key           = one(aws_s3_object.lambda_zip[*].key)
  source_code_hash = local.use_image ? null : filebase64sha256(var.lambda_zip)
  handler          = local.use_image ? null : local.ingest_handler
  runtime          = local.use_image ? null : var.lambda_runtime

  dynamic "image_config" {
    for_each = local.use_image ? [local.ingest_handler] : []
    content {
      command = [image_config.value]
    }
  }

  vpc_config {
    subnet_ids         = var.private_subnet_ids
    security_group_ids = [aws_security_group.lambda.id]
  }

  environment {
    variables = merge(local.common_environment, local.ingest_environment, local.token_environment,
    local.cutover_ingest_environment)
  }

  lifecycle {
    precondition {
      condition     = (var.lambda_zip == null) != (var.lambda_image_uri == null)
      error_message = "Set exactly one of lambda_zip and lambda_image_uri."
    }
  }

  depends_on = [
    aws_cloudwatch_log_group.ingest,
    aws_iam_role_policy.ingest,
    aws_iam_role_policy_attachment.ingest_vpc,
  ]
}

resource "aws_lambda_function_event_invoke_config" "ingest" {
  function_name                = aws_lambda_function.ingest.function_name
  maximum_retry_attempts       = var.ingest_maximum_retry_attempts
  maximum_event_age_in_seconds = 21600

  destination_config {
    on_failure {
      destination = aws_sqs_queue.ingest_failures.arn
    }
  }
}

resource "aws_lambda_permission" "ingest_from_s3" {
  statement_id   = "AllowS3Invoke"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.ingest.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = aws_s3_bucket.processed.arn
  source_account = data.aws_caller_identity.current.account_id
}

resource "aws_lambda_function" "api" {
  #checkov:skip=CKV_AWS_116:invoked synchronously by API Gateway; a DLQ only applies to asynchronous invocations
  function_name = "${var.name}-api"
  description   = "onsflux: HTTP API (questions, queries) behind API Gateway"
  role          = aws_iam_role.api.arn
  publish       = true # versions behind the alias "live" (cutover.tf)
  architectures = [var.lambda_architecture]
  memory_size   = var.api_memory_mb
  timeout       = var.api_timeout_seconds

  reserved_concurrent_executions = var.api_reserved_concurrency

  package_type     = local.use_image ? "Image" : "Zip"
  image_uri        = var.lambda_image_uri
  s3_bucket        = one(aws_s3_object.lambda_zip[*].bucket)
  s3_key           = one(aws_s3_object.lambda_zip[*].key)
  source_code_hash = local.use_image ? null : filebase64sha256(var.lambda_zip)
  handler          = local.use_image ? null : local.api_handler
  runtime          = local.use_image ? null : var.lambda_runtime

  dynamic "image_config" {
    for_each = local.use_image ? [local.api_handler] : []
    content {
      command = [image_config.value]
    }
  }

  vpc_config {
    subnet_ids         = var.private_subnet_ids
    security_group_ids = [aws_security_group.lambda.id]
  }

  environment {
    variables = merge(local.common_environment, local.api_environment, local.token_environment,
    local.api_keys_environment, local.cutover_api_environment)
  }

  lifecycle {
    precondition {
      condition     = (var.lambda_zip == null) != (var.lambda_image_uri == null)
      error_message = "Set exactly one of lambda_zip and lambda_image_uri."
    }
  }

  depends_on = [
    aws_cloudwatch_log_group.api,
    aws_iam_role_policy.api,
    aws_iam_role_policy_attachment.api_vpc,
  ]
}
