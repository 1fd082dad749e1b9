terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # `inv bootstrap` points this at .state/bootstrap/<master account>/terraform.tfstate and
  # rebuilds it by import when it is missing.
  backend "local" {}
}
