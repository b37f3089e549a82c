"""Peers in the project's own benchmark: the worker's job on this project's Faust worker,
on Quix Streams and on a plain aiokafka loop, each in its own process, on one broker and
the same events; events/s, CPU per 1,000 events, and whether all wrote the same records.

    from cxone_router.bench.peers import peers_phase
    print(peers_phase(load_settings(), 100_000).to_markdown())

Each candidate runs as `python -m cxone_router.bench.peers.<candidate>` (the Faust worker as
`python -m cxone_router worker`); `quixstreams` is imported only in its candidate's process
(the `bench` extra). The phase's names load on first use, so that a candidate's process
does not import the phase's own machinery (its CPU is measured)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cxone_router.bench.peers.phase import (
        CANDIDATES,
        CandidateResult,
        PeersError,
        PeersResult,
        peers_phase,
    )

__all__ = ["CANDIDATES", "CandidateResult", "PeersError", "PeersResult", "peers_phase"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from cxone_router.bench.peers import phase

        return getattr(phase, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
