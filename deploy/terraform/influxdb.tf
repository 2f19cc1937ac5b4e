# Timestream for InfluxDB (InfluxDB 2.x). Storage is encrypted at rest by the service.
# AWS stores the admin user's credentials in the secret named by
# influx_auth_parameters_secret_arn (output influxdb_admin_secret_arn).

resource "random_password" "influxdb_admin" {
  length  = 32
  special = false # the service accepts letters and digits only
}

resource "aws_timestreaminfluxdb_db_instance" "this" {
  name                   = "${var.name}-influxdb"
  db_instance_type       = var.influxdb_instance_type
  allocated_storage      = var.influxdb_allocated_storage
  db_storage_type        = var.influxdb_storage_type
  deployment_type        = var.influxdb_deployment_type
  publicly_accessible    = false
  username               = var.influxdb_username
  password               = random_password.influxdb_admin.result
  organization           = var.influxdb_org
  bucket                 = var.influxdb_bucket
  vpc_subnet_ids         = var.influxdb_deployment_type == "SINGLE_AZ" ? [var.private_subnet_ids[0]] : var.private_subnet_ids
  vpc_security_group_ids = [aws_security_group.influxdb.id]
}
