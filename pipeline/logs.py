"""JSON log lines in production, readable ones in `dev`."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# uvicorn adds its message again with ANSI colours for terminals: not for a JSON line
_TERMINAL_ONLY = {"color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra= fields become keys."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and key not in _TERMINAL_ONLY and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def logging_config(fmt: str, level: str) -> dict[str, Any]:
    """A dictConfig usable by both `logging.config` and Faust's worker."""
    formatter: dict[str, Any] = (
        {"()": "cxone_router.logs.JsonFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "main", "stream": sys.stderr}
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            "aiokafka": {"level": "WARNING"},
            "faust": {"level": "WARNING" if level != "debug" else "DEBUG"},
            "mode": {"level": "WARNING" if level != "debug" else "DEBUG"},
            "uvicorn.access": {"level": "WARNING"},
            "httpx": {"level": "WARNING"},
        },
    }


def configure_logging(fmt: str, level: str) -> None:
    import logging.config

    logging.config.dictConfig(logging_config(fmt, level))
