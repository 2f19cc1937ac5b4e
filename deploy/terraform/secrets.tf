# Two secrets the operator fills in after the first apply (deploy/README.md); Terraform
# creates them empty and never writes their values.

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

data "aws_secretsmanager_secret_version" "influxdb_token" {
  count     = var.wire_secrets ? 1 : 0
  secret_id = aws_secretsmanager_secret.influxdb_token.id
}

data "aws_secretsmanager_secret_version" "api_keys" {
  count     = var.wire_secrets ? 1 : 0
  secret_id = aws_secretsmanager_secret.api_keys.id
}
