# prod: the exiiprod account. Values marked PLACEHOLDER must be replaced before the first apply
# (`inv doctor --env prod` lists those still unset).
stage             = "prod"
region            = "eu-west-2"
profile           = "exiiprod"
account_id        = "222222222222" # PLACEHOLDER: the exiiprod account id
master_profile    = "exiimaster"
master_account_id = "000000000000" # PLACEHOLDER: the exiimaster account id

zone_name       = "exii.example.com" # PLACEHOLDER: the prod hosted zone
frontend_prefix = "app"
backend_prefix  = "api"

vpc_cidr         = "10.0.0.0/16"
azs              = ["eu-west-2a", "eu-west-2b"]
public_subnets   = ["10.0.1.0/24", "10.0.2.0/24"]
private_subnets  = ["10.0.101.0/24", "10.0.102.0/24"]
database_subnets = ["10.0.201.0/24", "10.0.202.0/24"]
nat_mode         = "per_az"

service_min_count = 2
service_max_count = 6

db_instance_class        = "db.t4g.small"
db_multi_az              = true
db_deletion_protection   = true
db_skip_final_snapshot   = false
db_backup_retention_days = 14

container_insights = true

# prod refuses accidents: the load balancers and the database cannot be deleted by an apply.
alb_deletion_protection = true

# Alarms (alarms.tf): prod pages sooner on errors and latency, and its db.t4g.small allows about
# twice the connections of dev's micro. The rest keep the defaults of alarm_thresholds.
alarm_thresholds = {
  target_5xx_percent        = 2
  response_time_p95_seconds = 1
  db_free_storage_gib       = 5
  db_connections            = 180
}

# CI roles (ci.tf; README "Running it from CI"): only jobs of the `prod` deployment environment
# (required reviewers) may assume the apply role.
ci_repository        = "exii/infrastructure" # PLACEHOLDER: OWNER/REPO of this repository
ci_apply_environment = "prod"

# Who reads and manages the secrets besides the stack's roles (secrets.tf): the roles that run
# `inv secrets` and Terraform by hand (every role made from operator-policies/plan.json, apply.json
# or secrets.json, and any auditor that reads secret metadata). Every other principal is denied them.
secret_administrators = ["arn:aws:iam::222222222222:role/exii-prod-admin"] # PLACEHOLDER: the roles that run inv secrets and Terraform
