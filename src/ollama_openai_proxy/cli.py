"""Command line: ``ollama-openai-proxy [serve] [--host H] [--port P]`` starts the server."""

from __future__ import annotations

import argparse
import os
import sys

from ollama_openai_proxy import OLLAMA_COMPAT_VERSION, __version__
from ollama_openai_proxy.config import ConfigError, load_settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ollama-openai-proxy",
        description="Serve the Ollama HTTP API from OpenAI-compatible backends.",
        epilog="The backend comes from OPENAI_BASE_URL / OPENAI_API_KEY (environment or .env). "
        "The listen address defaults to OLLAMA_HOST, else 127.0.0.1:11434.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__} (Ollama API {OLLAMA_COMPAT_VERSION})"
    )
    parser.add_argument("--config", help="YAML configuration file (default: OLLAMA_PROXY_CONFIG)")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the proxy (the default command)")
    sub.add_parser(
        "check", aliases=["doctor"], help="reach every backend and report problems (exit 1 if any)"
    )
    sub.add_parser("models", help="print the merged model table")
    for p in (parser, serve):
        p.add_argument("--host", help="address to listen on (default: from OLLAMA_HOST, else 127.0.0.1)")
        p.add_argument("--port", type=int, help="port to listen on (default: from OLLAMA_HOST, else 11434)")
        p.add_argument("--workers", type=int, default=None, help="worker processes (default 1)")
        p.add_argument(
            "--log-level", choices=["critical", "error", "warning", "info", "debug"], help="log verbosity"
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "log_level", None):
        os.environ["OLLAMA_PROXY_LOG_LEVEL"] = args.log_level
    if args.config:
        os.environ["OLLAMA_PROXY_CONFIG"] = args.config
    try:
        settings = load_settings()
        host, port = settings.listen_address()
    except ConfigError as exc:
        print(f"ollama-openai-proxy: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command in ("check", "doctor", "models"):
        from ollama_openai_proxy import doctor

        return doctor.run_check(settings) if args.command != "models" else doctor.run_models(settings)
    host = args.host or host
    port = args.port or port
    from ollama_openai_proxy.server import serve

    return serve(host, port, args.workers or 1, settings.log_level, settings.shutdown_grace)
