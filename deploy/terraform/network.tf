# Lambdas -> InfluxDB on 8086; nothing else reaches InfluxDB (unless operator SGs are given).

resource "aws_security_group" "lambda" {
  name        = "${var.name}-lambda"
  description = "onsflux Lambdas: egress to InfluxDB and to AWS APIs"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "influxdb" {
  #checkov:skip=CKV2_AWS_5:attached to aws_timestreaminfluxdb_db_instance.this (vpc_security_group_ids), a resource checkov's graph does not link
  name        = "${var.name}-influxdb"
  description = "onsflux Timestream for InfluxDB: 8086 from the onsflux Lambdas only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "influxdb_from_lambda" {
  security_group_id            = aws_security_group.influxdb.id
  description                  = "InfluxDB HTTPS API from the onsflux Lambdas"
  ip_protocol                  = "tcp"
  from_port                    = local.influxdb_port
  to_port                      = local.influxdb_port
  referenced_security_group_id = aws_security_group.lambda.id
}

resource "aws_vpc_security_group_ingress_rule" "influxdb_from_operator" {
  for_each = toset(var.operator_security_group_ids)

  security_group_id            = aws_security_group.influxdb.id
  description                  = "InfluxDB HTTPS API from an operator host (one-time setup)"
  ip_protocol                  = "tcp"
  from_port                    = local.influxdb_port
  to_port                      = local.influxdb_port
  referenced_security_group_id = each.value
}

resource "aws_vpc_security_group_egress_rule" "lambda_to_influxdb" {
  security_group_id            = aws_security_group.lambda.id
  description                  = "InfluxDB HTTPS API"
  ip_protocol                  = "tcp"
  from_port                    = local.influxdb_port
  to_port                      = local.influxdb_port
  referenced_security_group_id = aws_security_group.influxdb.id
}

resource "aws_vpc_security_group_egress_rule" "lambda_to_aws_apis" {
  security_group_id = aws_security_group.lambda.id
  description       = "HTTPS to S3, DynamoDB, SQS (through NAT or VPC endpoints)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}
