"""`python -m stackops.certs certbot ARGS...`: certbot with the Route53 zones pinned.

`certbot_command` (certbot.py) runs certbot this way; see the package docstring for why.
"""

from __future__ import annotations

import json
import os
import sys

from stackops.certs.certbot import ZONES_ENV, pinned_zone_finder


def _certbot_pinned(argv: list[str]) -> int | str | None:
    """certbot's main with the Route53 plugin held to the zones in STACKOPS_ROUTE53_ZONES."""
    from certbot.main import main as certbot_main
    from certbot_dns_route53._internal.dns_route53 import Authenticator

    Authenticator._find_zone_id_for_domain = pinned_zone_finder(json.loads(os.environ[ZONES_ENV]))  # type: ignore[method-assign]
    return certbot_main(argv)


def main(argv: list[str] | None = None) -> None:
    """`python -m stackops.certs certbot ARGS...`: certbot with the Route53 zones pinned (see above)."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "certbot":
        sys.exit("usage: python -m stackops.certs certbot CERTBOT_ARGS...")
    sys.exit(_certbot_pinned(args[1:]))


if __name__ == "__main__":
    main()
