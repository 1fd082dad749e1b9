# Certificates renew themselves: the renewal function runs `inv cert --renew-all`'s code daily in
# the environment's account (modules/cert-renewer). `inv` builds its package before every plan.
module "cert_renewer" {
  source = "./modules/cert-renewer"

  name                       = "${local.name}-cert-renewer"
  environment_name           = var.stage
  account_id                 = var.account_id
  region                     = var.region
  package_path               = var.cert_renewer_package
  package_hash               = filebase64sha256(var.cert_renewer_package)
  zone_id                    = aws_route53_zone.this.zone_id
  certificate_parameter_path = "/${var.project}/${var.stage}/acm"
  # The tags stackops/certs/acm.py puts on what it imports.
  managed_tags = { "managed-by" = "stackops", "stackops:environment" = var.stage }
  # What the function needs to know of the environment (stackops/certs/renewer.py reads it): the
  # tfvars' facts, without profiles (the function's role is its credentials).
  environment = {
    STACKOPS_ENVIRONMENT = jsonencode({
      name = var.stage
      variables = {
        project           = var.project
        stage             = var.stage
        region            = var.region
        account_id        = var.account_id
        master_account_id = var.master_account_id
        zone_name         = var.zone_name
        frontend_prefix   = var.frontend_prefix
        backend_prefix    = var.backend_prefix
        emulated          = var.emulated
        acme_profile      = var.acme_profile
        acme_staging      = var.acme_staging
      }
    })
  }
  alarm_topic_arn          = aws_sns_topic.alarms.arn
  days_remaining_threshold = var.certificate_alarm_days
  log_retention_days       = var.log_retention_days
  account_key_secret_name  = "/${var.project}/${var.stage}/acme-account"
  secret_recovery_days     = var.stage == "prod" ? 30 : 0
}

# The ACME account's secret (created by the module, written by the function) has the catalogue
# secrets' resource policy: every other principal of the account is denied it. The CI apply role
# manages the secret itself too (what apply.json's "Secrets" statement grants on it).
module "acme_account_secret_policy" {
  source = "./modules/secret-access-policy"

  secret_arn     = module.cert_renewer.account_key_secret_arn
  administrators = var.secret_administrators
  roles = merge(
    { RenewerFunction = { arn = module.cert_renewer.role_arn, actions = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"] } },
    { for key, role in local.ci_secret_roles : key => {
      arn     = role.arn
      actions = key == "CiApply" ? concat(role.actions, local.terraform_managed_secret_actions) : role.actions
    } },
  )
}
