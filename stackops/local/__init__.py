"""The embedded AWS of the `local` environment: everything that exists only to run the stack with no AWS account.

  emulator.py    start, stop and status of the whole (`inv local.up|down|status`), the AWS
                 profiles of its accounts, and `activate()`: point this process at it
  aws/           the emulated AWS server: moto's server plus narrow, documented fixes (its own
                 process, `python -m stackops.local.aws`)
  pebble.py      the local ACME server (Debian's pebble) with a CA made at start-up
  acme_front.py  the renewal information pebble 2.4 lacks (RFC 9773): its directory plus renewalInfo
  dns_bridge.py  the DNS server pebble validates DNS-01 through, answering from the emulated Route53
  processes.py   checks and stops of the detached processes above
  up.py          `inv up`: the embedded default from nothing to a deployed stack

The rule: code that runs against real AWS never imports this package (only the entry point
`stackops.cli` chooses it, for the emulated environment); tests/unit/test_layout.py fails if a
module does. This package may import the real code (it drives the same operations).
"""
