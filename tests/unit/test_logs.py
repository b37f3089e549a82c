"""JSON log lines carry what a log pipeline reads, not a terminal's colours."""

from __future__ import annotations

import logging

import orjson

from cxone_router.logs import JsonFormatter


def test_a_json_line_has_no_terminal_colour_copy_of_the_message() -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                               "Started server process [%d]", (42,), None)
    record.color_message = "Started server process [\x1b[36m%d\x1b[0m]"  # as uvicorn adds
    record.request_id = "r1"  # our own extra= fields stay
    line = orjson.loads(JsonFormatter().format(record))
    assert line["msg"] == "Started server process [42]"
    assert line["request_id"] == "r1"
    assert "color_message" not in line
    assert "\x1b" not in JsonFormatter().format(record)
