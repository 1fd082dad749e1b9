# State in the emulated master account. The endpoint comes from AWS_ENDPOINT_URL, set by the
# tooling for --env local; the emulator serves S3 path-style only.
bucket         = "exii-terraform-state"
key            = "exii/terraform.tfstate"
region         = "eu-west-2"
profile        = "exii-local-master"
dynamodb_table = "terraform-locks"
use_lockfile   = true
encrypt        = true
use_path_style = true
