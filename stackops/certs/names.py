"""The names of a certificate: validated domains, their canonical set, and a stable name for it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

from stackops.errors import OpsError

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def validate_domain(domain: str) -> str:
    """The domain in canonical form (lower case, no trailing dot); OpsError naming it when malformed.

    A leading `*.` (wildcard, allowed by DNS-01) is accepted; internationalised names must be
    given in their ASCII (xn--) form.
    """
    name = domain.strip().lower()
    name = name[:-1] if name.endswith(".") else name
    labels = name.split(".")
    body = labels[1:] if labels[0] == "*" else labels
    problem = None
    if not name.isascii():
        problem = "use its ASCII (xn--) form"
    elif len(name) > 253:
        problem = "longer than 253 characters"
    elif len(body) < 2:
        problem = "needs at least two labels, e.g. app.example.com"
    elif not all(_LABEL.match(label) for label in body):
        problem = "labels are 1-63 letters, digits or inner hyphens"
    elif body[-1].isdigit():
        problem = "the last label cannot be numeric"
    if problem:
        raise OpsError(f"malformed domain {domain!r}: {problem}")
    return name


def normalize_names(domains: Iterable[str]) -> tuple[str, ...]:
    """Validated, de-duplicated, sorted names (the identity of a certificate)."""
    names = tuple(sorted({validate_domain(d) for d in domains}))
    if not names:
        raise OpsError("no domain given and the environment declares no hostnames")
    return names


def cert_name(names: Sequence[str]) -> str:
    """A stable, readable name for a set of names (certbot lineage, SSM suffix)."""
    first = names[0].replace("*", "wildcard")
    if len(names) == 1:
        return first
    digest = hashlib.sha256(" ".join(names).encode()).hexdigest()[:8]
    return f"{first}-{digest}"
