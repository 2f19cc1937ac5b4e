# Two secrets the operator fills in after the first apply (deploy/README.md); Terraform
# creates them empty and never reads or writes their values. The Lambdas get only the
# ARNs and read the values at cold start (onsflux.secrets.resolve_secrets), so the values
# are never in the Lambda configuration or in the Terraform state.

resource "aws_secretsmanager_secret" "influxdb_token" {
  name_prefix             = "${var.name}/influxdb-token-"
  description             = "InfluxDB API token of onsflux (org ${var.influxdb_org}: read/write buckets, read orgs)"
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret" "api_keys" {
  name_prefix             = "${var.name}/api-keys-"
  description             = "onsflux HTTP API keys, comma separated"
  recovery_window_in_days = 7
}
