data "aws_partition" "current" {}

locals {
  # Keyed by AZ, not by position: adding or removing an AZ touches only that AZ's subnets, route
  # tables and NAT gateway (with count, every later index would be replaced).
  subnets = {
    for i, az in var.azs : az => {
      public   = var.public_subnets[i]
      private  = var.private_subnets[i]
      database = var.database_subnets[i]
    }
  }
  # The AZs that get a NAT gateway: none, the first (single), or each (per_az).
  nat_azs = { none = [], single = [var.azs[0]], per_az = var.azs }[var.nat_mode]

  # The NACLs' and the DB subnet group's (sets: the order does not matter).
  tier_subnets = {
    public   = values(aws_subnet.public)[*].id
    private  = values(aws_subnet.private)[*].id
    database = values(aws_subnet.database)[*].id
  }

  # One map entry per NACL rule so that adding a rule never renumbers the others.
  nacl_rules = merge([
    for tier, rules in var.nacl_rules : merge(
      { for r in rules.inbound : "${tier}-in-${r.rule_number}" => merge(r, { tier = tier, egress = false }) },
      { for r in rules.outbound : "${tier}-out-${r.rule_number}" => merge(r, { tier = tier, egress = true }) },
    )
  ]...)
}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr
  enable_dns_hostnames = true
  enable_dns_support   = true

  tags = { Name = var.name }
}

# Flow logs: who talked to what, for incident review.
resource "aws_cloudwatch_log_group" "flow_logs" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts at rest already; a customer key adds cost, not protection here
  #checkov:skip=CKV_AWS_338:retention is an input (flow_log_retention_days), sized per environment
  name              = "/vpc/${var.name}/flow-logs"
  retention_in_days = var.flow_log_retention_days
}

# Only flow logs of this account may use the role: the confused-deputy guard the VPC Flow Logs
# guide ("IAM role for publishing flow logs to CloudWatch Logs") documents.
module "flow_logs_trust" {
  source = "../service-trust-policy"

  service     = "vpc-flow-logs.amazonaws.com"
  account_id  = var.account_id
  source_arns = ["arn:${data.aws_partition.current.partition}:ec2:${var.region}:${var.account_id}:vpc-flow-log/*"]
}

data "aws_iam_policy_document" "flow_logs_write" {
  statement {
    sid       = "WriteFlowLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow_logs.arn}:*"]
  }
}

resource "aws_iam_role" "flow_logs" {
  name               = "${var.name}-vpc-flow-logs"
  assume_role_policy = module.flow_logs_trust.json
}

resource "aws_iam_role_policy" "flow_logs" {
  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs.id
  policy = data.aws_iam_policy_document.flow_logs_write.json
}

resource "aws_flow_log" "this" {
  vpc_id          = aws_vpc.this.id
  traffic_type    = "ALL"
  log_destination = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn    = aws_iam_role.flow_logs.arn
}

# The default security group is left with no rules so nothing can use it by accident.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  # Explicitly empty, so a rule added by hand is removed by the next apply.
  ingress = []
  egress  = []

  tags = { Name = "${var.name}-default-unused" }
}

# The default network ACL likewise, with no rules: it denies everything (AWS's own allow-all rules
# are removed when Terraform adopts it). No subnet uses it: every tier has its own NACL below. No
# subnet_ids: Terraform then leaves the associations alone (a subnet can leave a NACL only for
# another one), and a subnet whose tier NACL is replaced falls back on this one, denying all,
# until the new NACL takes it.
resource "aws_default_network_acl" "this" {
  default_network_acl_id = aws_vpc.this.default_network_acl_id

  tags = { Name = "${var.name}-default-unused" }
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = { Name = var.name }
}

resource "aws_subnet" "public" {
  for_each = local.subnets

  vpc_id            = aws_vpc.this.id
  cidr_block        = each.value.public
  availability_zone = each.key
  # Load balancers get their public addresses from AWS; nothing launched here needs one of its own.
  map_public_ip_on_launch = false

  tags = { Name = "${var.name}-public-${each.key}", Tier = "public" }
}

resource "aws_subnet" "private" {
  for_each = local.subnets

  vpc_id            = aws_vpc.this.id
  cidr_block        = each.value.private
  availability_zone = each.key

  tags = { Name = "${var.name}-private-${each.key}", Tier = "private" }
}

resource "aws_subnet" "database" {
  for_each = local.subnets

  vpc_id            = aws_vpc.this.id
  cidr_block        = each.value.database
  availability_zone = each.key

  tags = { Name = "${var.name}-database-${each.key}", Tier = "database" }
}

resource "aws_eip" "nat" {
  for_each = toset(local.nat_azs)

  domain = "vpc"

  tags = { Name = "${var.name}-nat-${each.key}" }
}

resource "aws_nat_gateway" "this" {
  for_each = toset(local.nat_azs)

  allocation_id = aws_eip.nat[each.key].id
  subnet_id     = aws_subnet.public[each.key].id

  tags = { Name = "${var.name}-${each.key}" }

  depends_on = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-public" }
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  for_each = aws_subnet.public

  subnet_id      = each.value.id
  route_table_id = aws_route_table.public.id
}

# One private route table per AZ, so per_az NAT keeps each AZ's egress inside that AZ.
resource "aws_route_table" "private" {
  for_each = local.subnets

  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-private-${each.key}" }
}

resource "aws_route" "private_nat" {
  for_each = length(local.nat_azs) > 0 ? local.subnets : {}

  route_table_id         = aws_route_table.private[each.key].id
  destination_cidr_block = "0.0.0.0/0"
  # Its own AZ's NAT gateway when there is one (per_az), otherwise the single one.
  nat_gateway_id = aws_nat_gateway.this[contains(local.nat_azs, each.key) ? each.key : local.nat_azs[0]].id
}

resource "aws_route_table_association" "private" {
  for_each = aws_subnet.private

  subnet_id      = each.value.id
  route_table_id = aws_route_table.private[each.key].id
}

# The database tier has no route out of the VPC at all.
resource "aws_route_table" "database" {
  vpc_id = aws_vpc.this.id

  tags = { Name = "${var.name}-database" }
}

resource "aws_route_table_association" "database" {
  for_each = aws_subnet.database

  subnet_id      = each.value.id
  route_table_id = aws_route_table.database.id
}

resource "aws_network_acl" "this" {
  for_each = local.tier_subnets

  vpc_id     = aws_vpc.this.id
  subnet_ids = each.value

  tags = { Name = "${var.name}-${each.key}" }
}

resource "aws_network_acl_rule" "this" {
  for_each = local.nacl_rules

  network_acl_id = aws_network_acl.this[each.value.tier].id
  egress         = each.value.egress
  rule_number    = each.value.rule_number
  protocol       = each.value.protocol
  rule_action    = each.value.rule_action
  cidr_block     = each.value.cidr_block
  from_port      = each.value.protocol == "icmp" ? null : each.value.from_port
  to_port        = each.value.protocol == "icmp" ? null : each.value.to_port
  icmp_type      = each.value.icmp_type
  icmp_code      = each.value.icmp_code
}

resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = local.tier_subnets.database

  tags = { Name = var.name }
}
