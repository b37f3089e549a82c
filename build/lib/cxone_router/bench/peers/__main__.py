"""`python -m cxone_router.bench.peers [--events N]`: the peers phase alone, its table on stdout.

The broker: a new one-node Apache Kafka (Java; its jars in .cxr/), or the cluster at
CXR_KAFKA_BOOTSTRAP when that is set."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

from cxone_router.bench.peers.phase import CANDIDATES, peers_phase
from cxone_router.settings import load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cxone_router.bench.peers",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--candidates", default=",".join(CANDIDATES),
                        help="comma-separated, run in this order")
    parser.add_argument("--nodes", type=int, default=1, help="Apache Kafka nodes")
    parser.add_argument("--log-dir", type=Path, help="keep the candidates' logs here")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    result = peers_phase(load_settings(), args.events, tuple(args.candidates.split(",")),
                         nodes=args.nodes, log_dir=args.log_dir)
    print(result.to_markdown())
    if args.json:
        args.json.write_bytes(orjson.dumps(dataclasses.asdict(result),
                                           option=orjson.OPT_INDENT_2))
    return 0 if result.identical else 1


if __name__ == "__main__":
    sys.exit(main())
