"""The DNS bridge of the local ACME server: a small DNS server (dnslib) answering from the emulator's Route53.

pebble resolves the `_acme-challenge` TXT records through it (`pebble -dnsserver 127.0.0.1:PORT`),
so a DNS-01 validation reads exactly what certbot-dns-route53 wrote to the emulated Route53.
Run as `python -m stackops.local.dns_bridge --port PORT --state-dir DIR --profile P --region R`
(what `stackops.local.pebble.start()` does). While the file `<state-dir>/dns-silent` exists it
answers NXDOMAIN to every query (a test switch, see `pebble.set_silent`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import threading
from pathlib import Path
from typing import Any

from stackops.certs.zones import choose_zone, delegation_checker, list_zones

SILENT_FLAG = "dns-silent"
_OCTAL = re.compile(r"\\(\d{3})")


def _fqdn(name: str) -> str:
    """Lower-case, absolute, with Route53's octal escapes (`\\052` for `*`) decoded."""
    name = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), name)
    return name.lower().rstrip(".") + "."


def _records(owner: str, rrset: dict[str, Any]) -> list[Any]:
    from dnslib import RR

    rrs: list[Any] = []
    for record in rrset.get("ResourceRecords", []):  # alias records have none: not answered
        line = f"{owner} {rrset.get('TTL', 300)} IN {rrset['Type']} {record['Value']}"
        try:
            rrs.extend(RR.fromZone(line))
        except Exception:  # noqa: S112 -- a value dnslib cannot parse is left out, not fatal to the answer
            continue
    return rrs


# moto 5.2.5 stores its default SOA value as the repr of a dict; answer a plain one instead.
_DEFAULT_SOA = {"Type": "SOA", "TTL": 900, "ResourceRecords": [
    {"Value": "ns-2048.awsdns-64.com. hostmaster.example.com. 1 7200 900 1209600 86400"}]}  # fmt: skip


def answer(qname: str, qtype: str, zone_name: str, rrsets: list[dict[str, Any]]) -> tuple[str, list[Any], list[Any]]:
    """Answer a query from one zone's Route53 record sets: (rcode, answers, authority).

    Exact names first, then a wildcard at the closest parent; CNAMEs are followed inside the
    zone. A name without the type answers NOERROR with the SOA; an unknown name NXDOMAIN.
    """
    zone = _fqdn(zone_name)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for rrset in rrsets:
        by_name.setdefault(_fqdn(rrset["Name"]), []).append(rrset)
    soa = [r for r in by_name.get(zone, []) if r["Type"] == "SOA"]
    authority = (_records(zone, soa[0]) if soa else []) or _records(zone, _DEFAULT_SOA)
    answers: list[Any] = []
    current = _fqdn(qname)
    for _ in range(8):  # CNAME chain limit
        sets = by_name.get(current)
        if sets is None and not any(n.endswith("." + current) for n in by_name):
            parent = current
            while sets is None and parent != zone and "." in parent.rstrip("."):
                parent = parent.split(".", 1)[1]
                sets = by_name.get("*." + parent)
        if sets is None:
            if answers:
                return "NOERROR", answers, []
            exists = any(n.endswith("." + current) for n in by_name)
            return ("NOERROR" if exists else "NXDOMAIN"), [], authority
        matching = [r for r in sets if r["Type"] == qtype]
        if matching:
            for rrset in matching:
                answers.extend(_records(current, rrset))
            return "NOERROR", answers, []
        cname = [r for r in sets if r["Type"] == "CNAME" and r.get("ResourceRecords")]
        if not cname or qtype == "CNAME":
            return "NOERROR", answers, ([] if answers else authority)
        answers.extend(_records(current, cname[0]))
        current = _fqdn(cname[0]["ResourceRecords"][0]["Value"])
        if not (current == zone or current.endswith("." + zone)):
            return "NOERROR", answers, []
    return "NOERROR", answers, []


class Route53Bridge:
    """dnslib resolver answering from Route53, read on every query (records change mid-challenge)."""

    def __init__(self, route53: Any, state_dir: Path) -> None:
        self.route53 = route53
        self.silent_flag = Path(state_dir) / SILENT_FLAG

    def _zone_for(self, qname: str) -> Any:
        # The same choice as `inv cert` makes (longest public zone reached by delegation), so the
        # bridge sees the records where public DNS would.
        return choose_zone(qname.rstrip("."), list_zones(self.route53), delegation_checker(self.route53))

    def resolve(self, request: Any, handler: Any) -> Any:
        from dnslib import QTYPE, RCODE

        reply = request.reply()
        qname, qtype = _fqdn(str(request.q.qname)), QTYPE.get(request.q.qtype)
        if self.silent_flag.exists():
            reply.header.rcode = RCODE.NXDOMAIN
            _log(f"{qname} {qtype} NXDOMAIN (silent)")
            return reply
        try:
            zone = self._zone_for(qname)
            if zone is None:
                rcode, answers, authority = "NXDOMAIN", [], []
            else:
                rrsets: list[dict[str, Any]] = []
                paginator = self.route53.get_paginator("list_resource_record_sets")
                for page in paginator.paginate(HostedZoneId=zone.id):
                    rrsets.extend(page["ResourceRecordSets"])
                rcode, answers, authority = answer(qname, str(qtype), zone.name, rrsets)
        except Exception as exc:  # a bridge error must answer SERVFAIL, not kill the server
            reply.header.rcode = RCODE.SERVFAIL
            _log(f"{qname} {qtype} SERVFAIL {type(exc).__name__}: {exc}")
            return reply
        reply.header.rcode = getattr(RCODE, rcode)
        reply.header.aa = 1
        for rr in answers:
            reply.add_answer(rr)
        for rr in authority:
            reply.add_auth(rr)
        _log(f"{qname} {qtype} {rcode} answers={len(answers)}")
        return reply


def _log(message: str) -> None:
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%S.%fZ} {message}", flush=True)


class _QuietLogger:
    """dnslib's default logger prints every packet; the bridge logs one line per query itself."""

    def __getattr__(self, name: str) -> Any:
        if name == "log_error":
            return lambda handler, exc: _log(f"error: {exc}")
        return lambda *args, **kwargs: None


def serve_dns(port: int, state_dir: Path, profile: str, region: str, address: str = "127.0.0.1") -> None:
    """Run the bridge on UDP and TCP `address:port` until terminated."""
    import boto3
    import botocore.exceptions
    from botocore.config import Config
    from dnslib.server import DNSServer

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except botocore.exceptions.ProfileNotFound as exc:
        _log(f"error: {exc}")
        sys.exit(2)
    config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2})
    bridge = Route53Bridge(session.client("route53", config=config), state_dir)
    udp = DNSServer(bridge, address=address, port=port, logger=_QuietLogger())
    tcp = DNSServer(bridge, address=address, port=port, tcp=True, logger=_QuietLogger())
    threading.Thread(target=tcp.start, daemon=True).start()
    _log(f"DNS bridge on {address}:{port} (udp+tcp), Route53 of profile {profile}")
    udp.start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m stackops.local.dns_bridge", description="the DNS bridge answering from the emulator's Route53"
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--state-dir", type=Path, required=True, help=f"holds the {SILENT_FLAG} switch")
    parser.add_argument("--profile", required=True)
    parser.add_argument("--region", required=True)
    args = parser.parse_args(argv)
    serve_dns(args.port, args.state_dir, args.profile, args.region, args.address)


if __name__ == "__main__":
    main()
