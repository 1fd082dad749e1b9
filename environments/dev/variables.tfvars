# dev: the exiidev account. Values marked PLACEHOLDER must be replaced before the first apply
# (`inv doctor --env dev` lists those still unset).
stage             = "dev"
region            = "eu-west-2"
profile           = "exiidev"
account_id        = "111111111111" # PLACEHOLDER: the exiidev account id
master_profile    = "exiimaster"
master_account_id = "000000000000" # PLACEHOLDER: the exiimaster account id

zone_name       = "exii-dev.example.com" # PLACEHOLDER: the dev hosted zone
frontend_prefix = "app-dev"
backend_prefix  = "api-dev"

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
db_backup_retention_days = 7

container_insights = false

# dev can be torn down and rebuilt: a destroy deletes the ECR repositories with their images (the
# pipelines push them again). Buckets keep force_destroy_buckets = false: their objects are data.
force_delete_repositories = true

# CI roles (ci.tf; README "Running it from CI"): the repository whose workflows plan and apply dev.
ci_repository = "exii/infrastructure" # PLACEHOLDER: OWNER/REPO of this repository

# Who reads and manages the secrets besides the stack's roles (secrets.tf): the roles that run
# `inv secrets` and Terraform by hand (every role made from operator-policies/plan.json, apply.json
# or secrets.json, and any auditor that reads secret metadata). Every other principal is denied them.
secret_administrators = ["arn:aws:iam::111111111111:role/exii-dev-admin"] # PLACEHOLDER: the roles that run inv secrets and Terraform
