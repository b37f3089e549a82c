"""Waiting in tests for something that happens on its own time (a process starting, a
metric moving, a record arriving): one loop, which fails naming what it waited for and
what it saw last, instead of a loop with its own deadline in each test."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], what: str, timeout: float = 60.0,
               every: float = 0.2, seen: Callable[[], object] | None = None) -> T:
    """Call `check` every `every` seconds until it returns something true, and return that.
    After `timeout` seconds, an AssertionError naming `what` and what `seen` says (by
    default, the last answer)."""
    deadline = time.monotonic() + timeout
    while not (answer := check()):
        if time.monotonic() > deadline:
            raise AssertionError(_failure(what, timeout, answer, seen))
        time.sleep(every)
    return answer


async def wait_until_async(check: Callable[[], Awaitable[T] | T], what: str,
                           timeout: float = 60.0, every: float = 0.2,
                           seen: Callable[[], object] | None = None) -> T:
    """`wait_until` sleeping on the event loop, for a `check` that is a coroutine or not."""
    deadline = time.monotonic() + timeout
    while not (answer := await _answer(check)):
        if time.monotonic() > deadline:
            raise AssertionError(_failure(what, timeout, answer, seen))
        await asyncio.sleep(every)
    return answer


async def _answer(check: Callable[[], Awaitable[T] | T]) -> T:
    answer = check()
    return await answer if inspect.isawaitable(answer) else answer


def _failure(what: str, timeout: float, answer: object,
             seen: Callable[[], object] | None) -> str:
    return f"not within {timeout:g} s: {what}; last seen: {seen() if seen else answer!r}"


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    """A process's output up to the first line holding `marker` (`Serving`...); an
    AssertionError with all of it when the marker does not come within `timeout` seconds
    (checked between lines) or the process ends first."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} within {timeout} s; output:\n{''.join(seen)}")


def interrupt(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    """Ctrl-C, as a user stops `dev`, and its output after that. When it does not stop
    within `timeout` seconds, its whole process group is killed and the test fails."""
    proc.send_signal(signal.SIGINT)
    try:
        rest, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return rest
