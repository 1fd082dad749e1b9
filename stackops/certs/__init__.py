"""TLS certificates: Let's Encrypt (or the local pebble) by DNS-01 on Route53, imported into ACM.

`inv cert --env E [--domain D ...]` runs, for one set of names (default: the environment's
hostnames):
  a. validate the names; choose each name's hosted zone explicitly (see `choose_zone`); a name
     outside every public zone of the account, or whose zone is missing, fails before any ACME call;
  b. find the certificate this tool imported for the same names (ACM tag managed-by=stackops,
     matched on DomainName + SubjectAlternativeNames) and decide: inside the CA's renewal window
     (ACME Renewal Information, RFC 9773, asked with the certificate ACM holds), else when less
     than a third of its lifetime is left; `--renew-within` days and `--force` win over both
     (renewal.py says the order);
  c. run certbot certonly, DNS-01 through certbot-dns-route53, held to the chosen zones;
  d. import into ACM in the environment's region (body and chain separately), re-importing into
     the existing ARN (the ARN, and so every listener using it, is kept); tag it;
  e. publish the ARN to SSM `/<project>/<env>/acm/certificate-arn`, which Terraform reads.
`inv cert --renew-all --env E` does b-e for every certificate this tool manages in the account.

Key type: pinned to ECDSA P-256 (`--key-type ecdsa --elliptic-curve secp256r1`) because certbot's
default changed across versions (RSA 2048 before 2.0, ECDSA since); an unpinned renewal could
silently change the key type behind an ARN. A re-import that would change the key type of an
existing ARN is refused.

Zone choice: certbot-dns-route53 5.8 picks the zone itself (the longest public zone name that is a
suffix of the name) and has no option to set it (certbot issue #9966; PR #10480 adding
`--route53-hosted-zone-id` is not released). It is wrong when a longer zone in the account is not
delegated from its parent (the records must go to the parent), and arbitrary when two public zones
share a name. This package chooses the zone itself and runs certbot through a small wrapper
(`python -m stackops.certs certbot ...`) that replaces the plugin's `_find_zone_id_for_domain`
with a lookup in that choice (passed in STACKOPS_ROUTE53_ZONES): no fork, no plugin registration,
every other line of the plugin unchanged; the unit tests fail if the pinned plugin changes shape.

ACME server: Let's Encrypt for a real environment; for the emulated one, the local pebble named by
STACKOPS_ACME_DIRECTORY_URL and STACKOPS_ACME_CA_BUNDLE, which the emulator's activation sets
(this package never imports the emulator).

IAM permissions the certificate run needs in the environment's account (narrow):
  route53:ListHostedZones                      (zone choice; the plugin)
  route53:ListResourceRecordSets               (delegation check, only when zones overlap)
  route53:GetChange                            (the plugin waits for INSYNC)
  route53:ChangeResourceRecordSets on arn:aws:route53:::hostedzone/<zone id> only, held by the
      condition keys ChangeResourceRecordSetsRecordTypes (TXT), ...NormalizedRecordNames
      (_acme-challenge.*) and ...Actions (UPSERT, DELETE): see modules/cert-renewer
  acm:ListCertificates, acm:ListTagsForCertificate, acm:DescribeCertificate, acm:ImportCertificate,
      acm:AddTagsToCertificate, acm:GetCertificate (the public certificate, for the CA's renewal window)
  ssm:GetParameter, ssm:PutParameter on parameter/<project>/<env>/acm/*
  cloudwatch:PutMetricData, held to the Stackops/Certificates namespace (DaysRemaining, metrics.py)
  sts:GetCallerIdentity (the account guard)
The renewal function's role (modules/cert-renewer) is the same, narrowed to the tool's tagged
certificates and the environment's zone; operator-policies/cert.json is the operator's.

Files: certbot's config, work and logs folders live under `env.state_dir / "certbot"`
(git-ignored), one config folder per ACME server; after each run every file in it is made 0600
and every folder 0700. Private keys are never printed.

What lives where (import from the modules; this file re-exports nothing):
  names.py     validate_domain, normalize_names, cert_name: the identity of a certificate
  zones.py     HostedZone, list_zones, delegation_checker, choose_zone, zones_for (step a)
  pem.py       split_pem_chain, certificate_names/dates, key algorithms of PEM keys
  acm.py       the certificates in ACM (tags, ManagedCert, matching, import, key-type check) and
               the SSM parameter Terraform reads (steps b, d, e)
  ari.py       the CA's renewal information (RFC 9773): cert_id, renewal_point, fetch
  renewal.py   Decision, renewal_due, decide, renewal_decision (step b)
  certbot.py   the ACME server, certbot's folders, command and environment, run_certbot (step c)
  issue.py     issue, renew_all, run, print_results, find_environment_for
  command.py   `inv cert`: pick the environment, run, and apply the listeners when the published ARN is new
  metrics.py   DaysRemaining, published after every check of the environment's certificate
  placeholder.py  `inv up`'s self-signed stand-in, imported before the zone exists, then replaced
  renewer.py   the renewal function (AWS Lambda): its environment, the ACME account in Secrets Manager
  renewer_command.py  `inv cert.renewer`: invoke the deployed function, show its result and log
  package.py   the function's deployment package (reproducible zip of pinned wheels)
  __main__.py  `python -m stackops.certs certbot ARGS...`: certbot with the Route53 zones pinned
"""
