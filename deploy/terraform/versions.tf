terraform {
  # preconditions (lifecycle) need Terraform >= 1.2
  required_version = ">= 1.2"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

provider "aws" {
  region = var.region

  # every taggable resource of this module gets these tags
  default_tags {
    tags = local.tags
  }
}
