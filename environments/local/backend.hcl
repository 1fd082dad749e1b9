# State in the emulated master account. The endpoint comes from AWS_ENDPOINT_URL, set by the
# tooling for --env local; the emulator serves S3 path-style only.
# No `bucket`: the tool names it exii-terraform-state-<master_account_id> (stackops/environments.py,
# Environment.state_bucket) and passes it to init and to tf-init. A deployment whose state is in
# another bucket names it here, e.g. bucket = "exii-terraform-state" (README, "The state backend").
key            = "exii/terraform.tfstate"
region         = "eu-west-2"
profile        = "exii-local-master"
dynamodb_table = "terraform-locks"
use_lockfile   = true
encrypt        = true
use_path_style = true
