"""Command line: ``ollama-openai-proxy [serve|check|models] [options]``; any failure is one line and an exit code."""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from ollama_openai_proxy import OLLAMA_COMPAT_VERSION, __version__
from ollama_openai_proxy.config import ConfigError, load_settings

PROG = "ollama-openai-proxy"
EXIT_OK = 0
EXIT_FAILURE = 1  # the command ran and failed: a backend down, the port taken
EXIT_USAGE = 2  # the command line, the environment or the configuration file is wrong
LOG_LEVELS = ["critical", "error", "warning", "info", "debug"]
SERVE_ONLY = ("host", "port", "workers")


class UsageError(Exception):
    """A malformed command line; the message is one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {PROG} --help)")


def _port(text: str) -> int:
    if not text.strip().isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, got {text!r}")
    return int(text)


def _workers(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    # Options live on the main parser and on each command (default SUPPRESS, so a command's parser
    # does not overwrite what was given before it): `--config x check` and `check --config x` agree.
    common = _Parser(add_help=False)
    common.add_argument(
        "--config", default=argparse.SUPPRESS, help="YAML configuration file (default: OLLAMA_PROXY_CONFIG)"
    )
    common.add_argument("--log-level", choices=LOG_LEVELS, default=argparse.SUPPRESS, help="log verbosity")
    common.add_argument(
        "--dry-run",
        action="store_true",
        default=argparse.SUPPRESS,
        help="check the arguments, the configuration and (serve) the listen address, then exit "
        "without serving or reaching a backend",
    )
    listen = _Parser(add_help=False)
    listen.add_argument(
        "--host",
        default=argparse.SUPPRESS,
        help="address to listen on (default: from OLLAMA_HOST, else 127.0.0.1)",
    )
    listen.add_argument(
        "--port",
        type=_port,
        default=argparse.SUPPRESS,
        help="port to listen on, 1-65535 (default: from OLLAMA_HOST, else 11434)",
    )
    listen.add_argument(
        "--workers", type=_workers, default=argparse.SUPPRESS, help="worker processes (default 1)"
    )
    parser = _Parser(
        prog=PROG,
        description="Serve the Ollama HTTP API from OpenAI-compatible backends.",
        epilog="The backend comes from OPENAI_BASE_URL / OPENAI_API_KEY (environment or .env). "
        "The listen address defaults to OLLAMA_HOST, else 127.0.0.1:11434. "
        "Exit status: 0 ok, 1 failure (a backend down, the port taken), 2 wrong usage or configuration.",
        parents=[common, listen],
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__} (Ollama API {OLLAMA_COMPAT_VERSION})"
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    sub.add_parser("serve", parents=[common, listen], help="run the proxy (the default command)")
    sub.add_parser(
        "check",
        aliases=["doctor"],
        parents=[common],
        help="reach every backend and report each problem on one line (exit 1 if any)",
    )
    sub.add_parser(
        "models", parents=[common], help="print the merged model table (exit 1 if a backend is down)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status. Every failure is printed as one line on stderr."""
    debug = False
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help and --version
            return exc.code if isinstance(exc.code, int) else 0
        debug = getattr(args, "log_level", None) == "debug"
        return _run(args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(f"{PROG}: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line, with the traceback only when debugging
        if debug:
            raise
        print(
            f"{PROG}: internal error: {type(exc).__name__}: {exc} (--log-level debug shows where)",
            file=sys.stderr,
        )
        return EXIT_FAILURE


def _run(args: argparse.Namespace) -> int:
    command = args.command or "serve"
    if command != "serve":
        given = [f"--{name}" for name in SERVE_ONLY if hasattr(args, name)]
        if given:
            raise UsageError(f"{', '.join(given)} applies to serve, not to {command}")
    if hasattr(args, "log_level"):
        os.environ["OLLAMA_PROXY_LOG_LEVEL"] = args.log_level
    if hasattr(args, "config"):
        os.environ["OLLAMA_PROXY_CONFIG"] = args.config  # workers read the settings again
    settings = load_settings()
    dry_run = getattr(args, "dry_run", False)
    if dry_run and command != "serve":
        return EXIT_OK
    if command in ("check", "doctor", "models"):
        from ollama_openai_proxy import doctor

        return doctor.run_check(settings) if command != "models" else doctor.run_models(settings)
    host, port = settings.listen_address()
    host, port = getattr(args, "host", host), getattr(args, "port", port)
    from ollama_openai_proxy.server import ListenError, check_listen_address, serve

    try:
        check_listen_address(host, port)
    except ConfigError as exc:
        raise ConfigError(f"{'--host' if hasattr(args, 'host') else 'OLLAMA_HOST'}: {exc}") from None
    except ListenError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if dry_run:
        return EXIT_OK
    return serve(host, port, getattr(args, "workers", 1), settings.log_level, settings.shutdown_grace)
