# The environment's alarms and the one SNS topic they all notify (the renewal function's too).
# E-mail subscribers come from alarm_emails in the tfvars; each confirms AWS's subscription mail.
resource "aws_sns_topic" "alarms" {
  #checkov:skip=CKV_AWS_26:CloudWatch alarms cannot publish to a topic under the AWS managed key (aws/sns); alarm texts hold no secret
  name = "${local.name}-alarms"
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

module "alarms" {
  source = "./modules/alarms"

  environment_name = var.stage
  topic_arn        = aws_sns_topic.alarms.arn
  # Names as strings (not the services' outputs): the services name their deployment alarms from
  # this module, so the alarms must not depend on them.
  services = {
    for service in keys(local.services) : service => {
      service_name             = "${local.name}-${service}"
      cluster_name             = module.ecs.cluster_name
      load_balancer_arn_suffix = module.alb[service].arn_suffix
      target_group_arn_suffix  = module.alb[service].target_group_arn_suffix
    }
  }
  database_identifier = local.name # module.database's identifier (it depends on the services)
  thresholds          = var.alarm_thresholds
}
