"""A lean HTTP/1.1 load generator, run in its own process so it does not share the edge's core.

Keep-alive connections over raw asyncio streams (uvloop), pre-built request bytes, and only
the status line and Content-Length parsed: about 20 µs of CPU per request, so one process
offers far more than one edge process can accept. It reports its own CPU time, which is how
a run shows that the generator was not the bottleneck.

Connection n sends bodies n, n+C, n+2C, ... (C connections), so no body is sent twice
until all have been sent once. RATE 0 sends as fast as the edge answers; a RATE offers that
many requests a second in total, each connection on its own schedule.

    python -m cxone_router.bench.loadgen HOST PORT PATH SECONDS CONNECTIONS BODIES [RATE]

BODIES is a JSON list of [body as latin-1 text, content type] (latin-1 maps bytes to text
one to one, so the file is about the size of the bodies).

With CXR_EDGE_AUTH on in its environment it authenticates as pipeline/signing.py does:
bearer and basic headers go into the pre-built requests; hmac signs every request as it
is sent (fresh timestamp; a few µs more per request).
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from collections.abc import Callable

import orjson

from cxone_router.signing import Signer


def _heads(host: str, path: str, bodies: list[tuple[bytes, str]], extra: str = "") -> list[bytes]:
    """Each request's header lines, without the blank line that ends them."""
    return [
        (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {ctype}\r\n"
         f"Content-Length: {len(body)}\r\n{extra}").encode()
        for body, ctype in bodies
    ]


def _requests(host: str, path: str, bodies: list[tuple[bytes, str]],
              signer: Signer | None = None) -> Callable[[int], bytes]:
    """Request i's bytes: pre-built, or (hmac) signed as it is sent."""
    if signer is None or not signer.per_request:
        extra = "".join(f"{k}: {v}\r\n" for k, v in
                        (signer.headers(b"") if signer is not None else {}).items())
        built = [head + b"\r\n" + body
                 for head, (body, _) in zip(_heads(host, path, bodies, extra), bodies,
                                            strict=True)]
        return lambda i: built[i % len(built)]
    heads, count, sign = _heads(host, path, bodies), len(bodies), signer.headers

    def signed(i: int) -> bytes:
        body = bodies[i % count][0]
        lines = "".join(f"{k}: {v}\r\n" for k, v in sign(body).items())
        return heads[i % count] + lines.encode() + b"\r\n" + body

    return signed


async def _connection(host: str, port: int, requests: Callable[[int], bytes], first: int,
                      stride: int, interval: float, deadline: float, statuses: dict[int, int],
                      latencies: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = first
    clock = time.perf_counter_ns
    due = time.monotonic() + interval * first / stride  # spread the connections' sends
    try:
        while (now := time.monotonic()) < deadline:
            if interval:
                if due > now:
                    await asyncio.sleep(due - now)
                due += interval
            started = clock()
            writer.write(requests(i))
            i += stride
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            status = int(status_line[9:12])
            statuses[status] = statuses.get(status, 0) + 1
            if status == 202:
                latencies.append(clock() - started)
    finally:
        writer.close()


async def run(host: str, port: int, path: str, seconds: float, connections: int,
              bodies: list[tuple[bytes, str]], rate: float = 0.0,
              signer: Signer | None = None) -> dict[str, object]:
    requests = _requests(host, path, bodies, signer)
    statuses: dict[int, int] = {}
    latencies: list[int] = []
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(
        _connection(host, port, requests, n, connections, connections / rate if rate else 0.0,
                    deadline, statuses, latencies)
        for n in range(connections)
    ))
    elapsed = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {"seconds": elapsed, "statuses": statuses, "latencies_ns": latencies,
            "cpu_seconds": cpu}


def main() -> None:
    host, port, path, seconds, connections, bodies_file = sys.argv[1:7]
    rate = float(sys.argv[7]) if len(sys.argv) > 7 else 0.0
    with open(bodies_file, "rb") as file:
        bodies = [(b.encode("latin-1"), c) for b, c in orjson.loads(file.read())]
    import uvloop

    from cxone_router.settings import load_settings
    from cxone_router.signing import signer_for

    signer = signer_for(load_settings())  # as the edge it posts to checks (CXR_EDGE_AUTH)
    result = uvloop.run(run(host, int(port), path, float(seconds), int(connections), bodies,
                                rate, signer))
    sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_NON_STR_KEYS))


if __name__ == "__main__":
    main()
