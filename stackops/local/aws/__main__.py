"""`python -m stackops.local.aws --port PORT [--host 127.0.0.1]`: serve the emulated AWS until SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stackops.local.aws", description=__doc__)
    parser.add_argument("--port", type=int, required=True, help="TCP port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a TCP port")
    if args.port:
        os.environ["MOTO_PORT"] = str(args.port)

    from stackops.local.aws.server import make_server

    try:
        server = make_server(args.host, args.port)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None

    def shut_down(signum: int, frame: Any) -> None:
        raise SystemExit(0)  # unwinds serve_forever() in the main thread

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    host, port = server.server_address[:2]
    import moto

    print(f"stackops emulated AWS (moto {moto.__version__}) listening on http://{host}:{port} "
          f"pid {os.getpid()}", flush=True)  # fmt: skip
    try:
        server.serve_forever(poll_interval=0.1)  # how soon SIGTERM is noticed
    finally:
        server.server_close()
        print("stopped", flush=True)


if __name__ == "__main__":
    main()
