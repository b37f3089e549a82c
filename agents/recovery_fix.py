"""A fix for faust-streaming 0.15.3: no stream records read before the post-recovery seek.

When a worker's tables had data to restore, Faust's `Recovery.on_recovery_completed`
resumes the stream partitions while the flow is still running from the changelog phase,
and only then seeks them to their committed offsets. Records fetched in that window are
processed, the seek rewinds under them, and records already prefetched past it can be
dropped while later ones are acked and committed: records are lost. Seen here on every
few worker restarts (tests/integration/test_resilience.py). The upstream fix for the
same ordering bug in `_resume_streams` (faust-streaming PR #217) did not cover this path.

The fix stops the flow before resuming the partitions, so nothing is processed until the
seek has happened; the rest of the method is Faust's own.
"""

from __future__ import annotations

from typing import Any

from faust.tables.recovery import Recovery

_original = Recovery.on_recovery_completed
_PATCHED = "_cxr_seek_before_flow"


async def _on_recovery_completed(self: Any, generation_id: int = 0) -> None:
    self.app.flow_control.suspend()
    self.app.consumer.stop_flow()
    await _original(self, generation_id)


def install() -> None:
    if not getattr(Recovery.on_recovery_completed, _PATCHED, False):
        setattr(_on_recovery_completed, _PATCHED, True)
        Recovery.on_recovery_completed = _on_recovery_completed  # type: ignore[method-assign]
