# State lives in the exiimaster account; one workspace per environment.
bucket         = "exii-terraform-state"
key            = "exii/terraform.tfstate"
region         = "eu-west-2"
profile        = "exiimaster"
dynamodb_table = "terraform-locks"
use_lockfile   = true
encrypt        = true
