# local: the same stack on the embedded, emulated AWS (`inv local.up`). The accounts are the
# emulator's; the profiles are written by `inv local.up` into .state/local/aws/config.
stage             = "local"
region            = "eu-west-2"
profile           = "exii-local"
account_id        = "111122223333"
master_profile    = "exii-local-master"
master_account_id = "123456789012"
emulated          = true
s3_use_path_style = true

zone_name       = "exii.test"
frontend_prefix = "app"
backend_prefix  = "api"

vpc_cidr         = "10.0.0.0/16"
azs              = ["eu-west-2a", "eu-west-2b"]
public_subnets   = ["10.0.1.0/24", "10.0.2.0/24"]
private_subnets  = ["10.0.101.0/24", "10.0.102.0/24"]
database_subnets = ["10.0.201.0/24", "10.0.202.0/24"]
nat_mode         = "single"

service_min_count = 1
service_max_count = 2

db_instance_class        = "db.t4g.micro"
db_multi_az              = false
db_deletion_protection   = false
db_skip_final_snapshot   = true
db_backup_retention_days = 1

container_insights = false

# A throw-away environment: destroy may delete buckets that hold access logs or test objects.
force_destroy_buckets = true
# ...and repositories that hold pushed images.
force_delete_repositories = true

# CI roles (ci.tf; README "Running it from CI"): the emulator's copy of what dev and prod declare.
ci_repository = "exii/infrastructure"

# Who reads and manages the secrets besides the stack's roles (secrets.tf): the emulator's admin
# role, which `inv up`, `inv secrets` and Terraform run as (stackops/local/emulator.py), and the
# operator roles of the operator-policy tests that read or write secrets (tests/e2e/fixtures/
# operators.py): secrets (`inv secrets`), plan and apply (Terraform).
secret_administrators = [
  "arn:aws:iam::111122223333:role/exii-emulated-admin",
  "arn:aws:iam::111122223333:role/exii-operator-secrets",
  "arn:aws:iam::111122223333:role/exii-operator-plan",
  "arn:aws:iam::111122223333:role/exii-operator-apply",
]
