# ------------------------------------------------------------------ processed-data bucket

resource "aws_s3_bucket" "processed" {
  bucket_prefix = "${var.name}-processed-"
}

resource "aws_s3_bucket_ownership_controls" "processed" {
  bucket = aws_s3_bucket.processed.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "processed" {
  bucket                  = aws_s3_bucket.processed.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "processed" {
  bucket = aws_s3_bucket.processed.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "processed" {
  bucket = aws_s3_bucket.processed.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms" # the AWS managed key aws/s3
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "processed" {
  bucket = aws_s3_bucket.processed.id

  rule {
    id     = "tidy"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
  }

  depends_on = [aws_s3_bucket_versioning.processed]
}

data "aws_iam_policy_document" "processed_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.processed.arn,
      "${aws_s3_bucket.processed.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "processed" {
  bucket     = aws_s3_bucket.processed.id
  policy     = data.aws_iam_policy_document.processed_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.processed]
}

# every new processed file invokes the ingest Lambda (once the token is stored)
resource "aws_s3_bucket_notification" "processed" {
  count  = var.enable_ingest_trigger ? 1 : 0
  bucket = aws_s3_bucket.processed.id

  lambda_function {
    id                  = "onsflux-ingest"
    lambda_function_arn = aws_lambda_function.ingest.arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = var.processed_prefix
  }

  depends_on = [aws_lambda_permission.ingest_from_s3]
}

# the zip package, when given, goes to the bucket outside the processed prefix
resource "aws_s3_object" "lambda_zip" {
  count       = var.lambda_zip != null ? 1 : 0
  bucket      = aws_s3_bucket.processed.id
  key         = "artifacts/onsflux-${filemd5(var.lambda_zip)}.zip"
  source      = var.lambda_zip
  source_hash = filemd5(var.lambda_zip)
}

# ------------------------------------------------------------------ state table

# src/onsflux/state/dynamodb.py: single table, string keys pk (hash) and sk (range)
resource "aws_dynamodb_table" "state" {
  name         = "${var.name}-state"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true # the AWS managed key aws/dynamodb
  }

  deletion_protection_enabled = true
}

# ------------------------------------------------------------------ queues

# dead letters onsflux itself sends (ONSFLUX_DLQ_QUEUE_URL): malformed files and the like
resource "aws_sqs_queue" "dead_letters" {
  name                      = "${var.name}-dead-letters"
  message_retention_seconds = 1209600 # 14 days, the maximum
  sqs_managed_sse_enabled   = true
}

# invocations the ingest Lambda failed after its retries (on-failure destination)
resource "aws_sqs_queue" "ingest_failures" {
  name                      = "${var.name}-ingest-failures"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}
