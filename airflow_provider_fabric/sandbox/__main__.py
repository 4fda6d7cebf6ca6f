"""``fabric-sandbox`` / ``python -m airflow_provider_fabric.sandbox``: the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .auth import hash_secret, parse_user_spec, user_from_config
from .faults import FaultConfig
from .lifecycle import FAIL_ANNOTATION_MARKER

EPILOG = f"""
users:
  --user LOGIN:SECRET[:noaccess][:workspace=N]   (repeatable). LOGIN is the API key, SECRET its
  secret (kept only as a salted scrypt hash). 'noaccess' makes a valid key that gets 403 on every
  request. A --config JSON file may hold {{"users": [{{"login": .., "secret": .. | "secret_hash": ..,
  "access": true, "workspace": 1}}], "annotation_seconds": .., "faults": {{..}}, ...}}; any
  long option name (with underscores) is a config key, and the command line wins.

annotation failure:
  a VCF whose ##source header line contains {FAIL_ANNOTATION_MARKER} uploads fine but its
  annotation ends FAILED (and so does any report using it).

admin endpoints (sandbox only, need a valid user):
  GET|PUT|DELETE /_sandbox/faults   fault settings (JSON fields = the --fault-* options)
  POST /_sandbox/faults/release     let requests held by a scripted "hold" fault go on
  GET /_sandbox/state               all projects, genomes and reports with computed statuses
  GET|POST /_sandbox/clock          the server's time; POST {{"advance_seconds": S}} moves it on
  GET|DELETE /_sandbox/requests     raw request lines, only with --record-requests

on start the HTTPS URL, CA path and pid are printed as one JSON line and written to
DATA_DIR/ready.json (removed on exit). SIGTERM/SIGINT stop the server cleanly.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fabric-sandbox",
        description="A local HTTPS implementation of the Fabric Genomics clinical API.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTPS port (default 0: pick a free port)")
    p.add_argument(
        "--http-port", type=int, help="also listen for plain HTTP here and answer 302 (0: free port)"
    )
    p.add_argument("--data-dir", type=Path, help="state directory (default ./fabric-sandbox-data)")
    p.add_argument("--user", action="append", default=[], metavar="LOGIN:SECRET[:FLAGS]", help="an API user")
    p.add_argument("--config", type=Path, help="JSON config file (see below)")
    p.add_argument("--ca-out", type=Path, help="also copy the CA certificate to this path")
    p.add_argument("--annotation-seconds", type=float, help="upload to ANNOTATED (default 2)")
    p.add_argument("--report-seconds", type=float, help="annotated to READY TO REVIEW (default 2)")
    p.add_argument(
        "--looks",
        type=int,
        help="count time in looks, not seconds: annotated at a genome's Nth GET, a report ready at its "
        "Nth GET once its genomes are annotated (for tests that must not depend on machine speed)",
    )
    p.add_argument("--timezone", help="zone of timestamps (default America/Los_Angeles; EU server: GMT)")
    p.add_argument("--record-requests", action="store_true", default=None, help="keep raw request lines")
    p.add_argument("--seed", type=int, help="seed of the fault dice (default 0)")
    faults = p.add_argument_group("fault injection (rates 0..1; also PUT /_sandbox/faults at run time)")
    for kind in ("429", "500", "502", "503", "drop"):
        faults.add_argument(f"--fault-{kind}", type=float, dest=f"rate_{kind}", metavar="RATE")
    faults.add_argument("--latency-ms", type=float, help="added latency per matching request")
    faults.add_argument(
        "--fault-phase", choices=("before", "after"), help="inject before or after processing"
    )
    faults.add_argument("--fault-methods", help="comma-separated methods to fault (default all)")
    faults.add_argument("--fault-paths", action="append", help="regex of paths to fault (repeatable)")
    faults.add_argument("--retry-after", type=float, help="Retry-After seconds on 429/503 (default 1)")
    p.add_argument("--hash-secret", metavar="SECRET", help="print a secret_hash for the config file and exit")
    return p


def settings_from_args(args: argparse.Namespace) -> Any:
    from .server import Settings

    config: dict[str, Any] = json.loads(args.config.read_text()) if args.config else {}

    def pick(name: str, default: Any) -> Any:
        value = getattr(args, name, None)
        return value if value is not None else config.get(name, default)

    users = [user_from_config(item) for item in config.get("users", [])]
    users += [parse_user_spec(spec) for spec in args.user]
    if not users:
        raise SystemExit("fabric-sandbox: give at least one --user LOGIN:SECRET (or users in --config)")
    fault_data = dict(config.get("faults", {}))
    for key in (
        "rate_429",
        "rate_500",
        "rate_502",
        "rate_503",
        "rate_drop",
        "latency_ms",
        "retry_after",
        "seed",
    ):
        if getattr(args, key, None) is not None:
            fault_data[key] = getattr(args, key)
    if args.fault_phase:
        fault_data["phase"] = args.fault_phase
    if args.fault_methods:
        fault_data["methods"] = [m.strip() for m in args.fault_methods.split(",") if m.strip()]
    if args.fault_paths:
        fault_data["paths"] = args.fault_paths
    ca_out = pick("ca_out", None)
    http_port = pick("http_port", None)
    return Settings(
        data_dir=Path(pick("data_dir", "fabric-sandbox-data")).resolve(),
        users=users,
        host=pick("host", "127.0.0.1"),
        port=int(pick("port", 0)),
        http_port=None if http_port is None else int(http_port),
        ca_out=Path(ca_out).resolve() if ca_out else None,
        annotation_seconds=float(pick("annotation_seconds", 2.0)),
        report_seconds=float(pick("report_seconds", 2.0)),
        looks=int(pick("looks", 0)),
        timezone=pick("timezone", "America/Los_Angeles"),
        record_requests=bool(pick("record_requests", False)),
        faults=FaultConfig.from_dict(fault_data),
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.hash_secret:
        print(hash_secret(args.hash_secret))
        return 0
    try:
        settings = settings_from_args(args)
    except (ValueError, OSError) as err:
        print(f"fabric-sandbox: {err}", file=sys.stderr)
        return 2
    from .server import serve

    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
