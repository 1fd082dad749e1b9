# State lives in the exiimaster account; one workspace per environment.
# No `bucket`: the tool names it exii-terraform-state-<master_account_id> (stackops/environments.py,
# Environment.state_bucket) and passes it to init and to tf-init. A deployment whose state is in
# another bucket names it here, e.g. bucket = "exii-terraform-state" (README, "The state backend").
key            = "exii/terraform.tfstate"
region         = "eu-west-2"
profile        = "exiimaster"
dynamodb_table = "terraform-locks"
use_lockfile   = true
encrypt        = true
