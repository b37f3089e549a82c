"""`cxone-router sign`: the headers (or a curl command) that get one body past the edge."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from cxone_router.settings import load_command_settings
from cxone_router.signing import Signer


def curl_command(url: str, headers: dict[str, str], body_file: Path) -> str:
    parts = ["curl", "-sS", "-i"]
    for name, value in headers.items():
        parts += ["-H", f"{name}: {value}"]
    parts += ["--data-binary", f"@{body_file}", url]
    return shlex.join(parts)


HELP = "\n\n".join([
    "Print the headers that get a body past the edge's authentication, one 'Name: value' "
    "per line, or with --curl a curl command line that posts it.",
    "It signs with the CXR_EDGE_* settings the edge checks. CXR_EDGE_AUTH=hmac: the "
    "signature and timestamp headers, signed with the first of CXR_EDGE_HMAC_SECRETS and "
    "valid for CXR_EDGE_HMAC_TOLERANCE_SECONDS (sign just before sending). bearer and "
    "basic: an Authorization header that CONTAINS the first token or user:password in "
    "clear (base64 is not encryption): treat that output as a secret. No secret is "
    "printed otherwise.",
    "CXR_EDGE_AUTH=none: only Content-Type is printed, stderr says that no signing is "
    "configured, and the exit status is 0.",
])


def sign_command(
    body_file: Annotated[
        Path | None,
        typer.Argument(
            metavar="FILE", show_default=False,
            help="The exact request body to sign; '-' or nothing reads it from stdin. The "
            "signature covers these bytes: send them unchanged (curl --data-binary, not -d).",
        ),
    ] = None,
    curl: Annotated[
        bool,
        typer.Option("--curl", help="Print a ready curl command line that posts FILE to the "
                     "configured edge (needs FILE, not stdin)."),
    ] = False,
    content_type: Annotated[
        str, typer.Option("--content-type", help="The body's content type.")
    ] = "application/json",
    url: Annotated[
        str | None,
        typer.Option(help="Where --curl posts; default: the running `cxone-router dev`'s "
                     "edge, else CXR_EDGE_HOST:CXR_EDGE_PORT's "
                     "/webhooks/cxone.", show_default=False),
    ] = None,
) -> None:
    settings = load_command_settings()
    reads_stdin = body_file is None or str(body_file) == "-"
    if curl and reads_stdin:
        typer.secho("error: --curl needs the body in a FILE (curl posts it with "
                    "--data-binary @FILE)", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    if reads_stdin:
        if sys.stdin.isatty():  # nothing piped in: say so rather than wait for typing
            typer.secho("error: give the body as a FILE or pipe it in (cxone-router sign "
                        "< body.json)", fg=typer.colors.RED, err=True)
            raise typer.Exit(2)
        body = sys.stdin.buffer.read()
    else:
        assert body_file is not None
        try:
            body = body_file.read_bytes()
        except OSError as exc:
            typer.secho(f"error: cannot read {body_file}: {exc.strerror}", fg=typer.colors.RED,
                        err=True)
            raise typer.Exit(2) from None
    signer = Signer(settings)
    if not signer.enabled:
        typer.echo("CXR_EDGE_AUTH is none: no signing is configured; only Content-Type is "
                   "needed", err=True)
    headers = {"Content-Type": content_type, **signer.headers(body)}
    if curl:
        assert body_file is not None
        typer.echo(curl_command(url or settings.webhook_url, headers, body_file.resolve()))
    else:
        for name, value in headers.items():
            typer.echo(f"{name}: {value}")


sign_command.__doc__ = HELP
