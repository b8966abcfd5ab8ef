"""``python -m flask_rivo``: the demo site, as rivo/users' ``Main()``.

Serves :func:`flask_rivo.demo.create_demo_app` on http://127.0.0.1:5050 with
every account page, its data in a temporary folder (removed at exit) or in
``--data DIR``, and emails printed to the terminal and listed on
``/_outbox``. This command is the one place where the demo runs in debug
mode.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import signal
import sys
import tempfile
import typing as t

import click

from .demo import close_demo_app
from .demo import create_demo_app

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from collections.abc import Sequence
    from types import FrameType

#: Hosts that mean "every interface": links in emails use loopback instead.
ANY_HOST = ("", "0.0.0.0", "::")  # noqa: S104 (a name, not a bind)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flask_rivo",
        description="Serve a demo site with every flask_rivo account page.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument("--port", type=int, default=5050, help="default: 5050")
    parser.add_argument(
        "--data",
        metavar="DIR",
        help="keep users and sessions in DIR (default: a temporary folder,"
        " removed at exit)",
    )
    return parser.parse_args(argv)


def site_address(host: str, port: int) -> str:
    """The URL links in emails point at, for a server on ``host:port``."""
    if host in ANY_HOST:
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def is_loopback(host: str) -> bool:
    """Whether only this computer can reach ``host``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def data_folder(path: str | None) -> Iterator[str]:
    """``path``, made if need be, or a temporary folder removed at the end."""
    if path is not None:
        os.makedirs(path, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="flask-rivo-demo-") as temporary:
        yield temporary


def _exit(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends the server as Ctrl-C does, so the temporary folder goes."""
    sys.exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Inherited from a ``flask`` command that started this one, it would
    # make app.run() return at once: this command is its own server.
    os.environ.pop("FLASK_RUN_FROM_CLI", None)
    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        with data_folder(args.data) as folder:
            url = site_address(args.host, args.port)
            app = create_demo_app(folder, url)
            click.echo(
                f"Flask-Rivo demo on {url}/ (emails on {url}/_outbox)\n"
                f"Data: {folder}"
                + ("" if args.data else " (a temporary folder, removed at exit)")
            )
            try:
                # Debug mode, for tracebacks in the page, but no reloader (it
                # would start a second process with a second temporary folder)
                # and, on a host others can reach, no interactive debugger.
                app.run(
                    args.host,
                    args.port,
                    debug=True,
                    use_reloader=False,
                    use_debugger=is_loopback(args.host),
                )
            finally:
                close_demo_app(app)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
