variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Prefix of every resource name (letters, digits, hyphens)."
  type        = string
  default     = "onsflux"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,20}$", var.name))
    error_message = "The name must be 3-21 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Environment tag (prod, staging, ...)."
  type        = string
  default     = "prod"
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

# --- network: an existing VPC --------------------------------------------------------

variable "vpc_id" {
  description = "VPC holding the InfluxDB instance and the Lambdas."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets for the InfluxDB instance and the Lambdas. They need a route to S3, DynamoDB and SQS (NAT gateway or VPC endpoints). SINGLE_AZ uses the first subnet; WITH_MULTIAZ_STANDBY needs two in different AZs."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 1
    error_message = "Give at least one private subnet."
  }
}

variable "operator_security_group_ids" {
  description = "Extra security groups (a bastion, an SSM-managed admin host) allowed to reach InfluxDB on 8086 for the one-time setup. Empty: only the Lambdas can."
  type        = list(string)
  default     = []
}

# --- InfluxDB ---------------------------------------------------------------------------

variable "influxdb_instance_type" {
  description = "Timestream for InfluxDB instance class."
  type        = string
  default     = "db.influx.medium"
}

variable "influxdb_allocated_storage" {
  description = "Storage in GiB (20 to 16384)."
  type        = number
  default     = 20
}

variable "influxdb_storage_type" {
  description = "InfluxIOIncludedT1, InfluxIOIncludedT2 or InfluxIOIncludedT3."
  type        = string
  default     = "InfluxIOIncludedT1"
}

variable "influxdb_deployment_type" {
  description = "SINGLE_AZ or WITH_MULTIAZ_STANDBY."
  type        = string
  default     = "SINGLE_AZ"
}

variable "influxdb_username" {
  description = "Initial InfluxDB admin user (its password is generated and kept by AWS in the secret named by the instance's influx_auth_parameters_secret_arn)."
  type        = string
  default     = "onsflux-admin"
}

variable "influxdb_org" {
  description = "InfluxDB organization (the data contract's ons-energy)."
  type        = string
  default     = "ons-energy"
}

variable "influxdb_bucket" {
  description = "Initial bucket created with the instance; onsflux creates the other ones (consumption_data, transmission_data) itself."
  type        = string
  default     = "generation_data"
}

# --- code -----------------------------------------------------------------------------

variable "lambda_zip" {
  description = "Path of the Lambda zip (pip install .. -t build && zip). Set this or lambda_image_uri. Lambda caps an unzipped package at 250 MB; see deploy/README.md."
  type        = string
  default     = null
}

variable "lambda_image_uri" {
  description = "ECR image URI of a Lambda container image with onsflux installed (no 250 MB cap). Set this or lambda_zip."
  type        = string
  default     = null
}

variable "lambda_runtime" {
  description = "Python runtime for the zip package (onsflux needs Python >= 3.11)."
  type        = string
  default     = "python3.11"
}

variable "lambda_architecture" {
  description = "x86_64 or arm64: must match the wheels in the package."
  type        = string
  default     = "x86_64"
}

variable "ingest_memory_mb" {
  description = "Memory of the ingest Lambda (polars/pyarrow like room)."
  type        = number
  default     = 2048
}

variable "ingest_timeout_seconds" {
  description = "Timeout of the ingest Lambda (one S3 object per invocation)."
  type        = number
  default     = 600
}

variable "ingest_reserved_concurrency" {
  description = "Most ingest Lambdas running at once: caps the write load on InfluxDB."
  type        = number
  default     = 10
}

variable "ingest_maximum_retry_attempts" {
  description = "Lambda retries of a failed asynchronous (S3) invocation, 0-2; then the on-failure destination."
  type        = number
  default     = 2
}

variable "api_memory_mb" {
  description = "Memory of the API Lambda."
  type        = number
  default     = 1024
}

variable "api_timeout_seconds" {
  description = "Timeout of the API Lambda (API Gateway HTTP APIs stop waiting at 30 s)."
  type        = number
  default     = 29
}

variable "api_reserved_concurrency" {
  description = "Most API Lambdas running at once."
  type        = number
  default     = 20
}

variable "api_throttling_rate_limit" {
  description = "Steady-state requests per second the HTTP API accepts."
  type        = number
  default     = 20
}

variable "api_throttling_burst_limit" {
  description = "Burst of requests the HTTP API accepts."
  type        = number
  default     = 40
}

variable "processed_prefix" {
  description = "Key prefix of the processed files in the bucket: the ingest trigger and the API's fallback read only under it."
  type        = string
  default     = "processed/"
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention of the Lambda and API access logs."
  type        = number
  default     = 365
}

variable "enable_ingest_trigger" {
  description = "false on the first apply. Set true once the InfluxDB token is stored in its secret (deploy/README.md): new processed files then invoke the ingest Lambda."
  type        = bool
  default     = false
}

# ------------------------------------------------------------------ cutover (blue-green)

variable "timestream_blue_database" {
  description = "The Timestream (LiveAnalytics) database the platform served from (blue), e.g. ons_energy_data; null when there is none"
  type        = string
  default     = null
}

variable "timestream_shape" {
  description = "How the blue tables hold a row: multi (multi-measure records) or single (the legacy one measure per record)"
  type        = string
  default     = "multi"
  validation {
    condition     = contains(["multi", "single"], var.timestream_shape)
    error_message = "timestream_shape must be multi or single."
  }
}

variable "dual_write_timestream" {
  description = "Ingest also writes every batch to Timestream (WriteRecords) until blue is retired"
  type        = bool
  default     = false
}

variable "api_stable_version" {
  description = "API Lambda version the live alias points to (null: the latest published)"
  type        = string
  default     = null
}

variable "api_canary_version" {
  description = "A second API Lambda version taking api_canary_weight of the traffic (null: none)"
  type        = string
  default     = null
}

variable "api_canary_weight" {
  description = "Share (0-1) of invocations the canary version receives"
  type        = number
  default     = 0.1
  validation {
    condition     = var.api_canary_weight > 0 && var.api_canary_weight < 1
    error_message = "api_canary_weight must be between 0 and 1 (exclusive)."
  }
}

variable "api_error_alarm_threshold" {
  description = "Errors per minute on the live alias that fire the alarm (and stop a CodeDeploy deployment)"
  type        = number
  default     = 5
}

variable "enable_codedeploy" {
  description = "Create a CodeDeploy deployment group that shifts the live alias with a canary and rolls back on alarms"
  type        = bool
  default     = false
}

variable "codedeploy_config" {
  description = "CodeDeploy Lambda deployment configuration"
  type        = string
  default     = "CodeDeployDefault.LambdaCanary10Percent5Minutes"
}

variable "codedeploy_alarm_names" {
  description = "More CloudWatch alarms that stop a deployment and roll it back"
  type        = list(string)
  default     = []
}

# --- operations ------------------------------------------------------------------------

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarms topic (each must confirm the subscription). Other subscribers (chat, paging) can subscribe to the alarms_topic_arn output."
  type        = list(string)
  default     = []
}

variable "runbook_url_prefix" {
  description = "Where the runbooks (deploy/runbooks/*.md) can be read; every alarm's description links to <prefix>/<alarm>.md. Set it to the repository's browsable URL."
  type        = string
  default     = "deploy/runbooks"
}
