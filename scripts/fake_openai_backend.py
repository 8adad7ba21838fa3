#!/usr/bin/env python3
"""A tiny scripted OpenAI-compatible backend for smoke tests (stdlib only).

Answers GET /v1/models and POST /v1/chat/completions (plain JSON, or SSE when "stream": true)
with canned content, and GET /health. Loopback only. Used by scripts/container_check.sh and
scripts/check_packaging.sh.

Usage: fake_openai_backend.py --port N [--host 127.0.0.1] [--require-key KEY]
(with --require-key, any /v1 request without ``Authorization: Bearer KEY`` gets 401).
"""

from __future__ import annotations

import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CANNED = "Hello! This is the canned reply from the scripted backend."
MODEL = "check-model"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    required_key: str | None = None

    def _refused(self) -> bool:
        """401 (and True) when a key is required and this request does not carry it."""
        if self.required_key is None or not self.path.startswith("/v1"):
            return False
        if self.headers.get("Authorization") == f"Bearer {self.required_key}":
            return False
        self._json(401, {"error": {"message": "invalid API key", "type": "invalid_request_error"}})
        return True

    def log_message(self, fmt: str, *args: object) -> None:
        print(f"fake-backend: {self.command} {self.path} -> {fmt % args}", flush=True)

    def _json(self, code: int, obj: object) -> None:
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self._refused():
            return
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith("/models"):
            self._json(
                200,
                {
                    "object": "list",
                    "data": [{"id": MODEL, "object": "model", "created": 1700000000, "owned_by": "fake"}],
                },
            )
        elif path in ("/health", "/v1/health"):
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if self._refused():
            self.rfile.read(length)
            return
        try:
            req = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._json(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
            return
        if not self.path.split("?", 1)[0].rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        model = req.get("model") or MODEL
        now = int(time.time())
        usage = {"prompt_tokens": 5, "completion_tokens": 12, "total_tokens": 17}
        if not req.get("stream"):
            self._json(
                200,
                {
                    "id": "chatcmpl-check",
                    "object": "chat.completion",
                    "created": now,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": CANNED},
                        }
                    ],
                    "usage": usage,
                },
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        base = {"id": "chatcmpl-check", "object": "chat.completion.chunk", "created": now, "model": model}
        chunks = [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
        chunks += [
            {"index": 0, "delta": {"content": word}, "finish_reason": None}
            for word in CANNED.split(" ")
            for word in (word + " ",)
        ]
        chunks.append({"index": 0, "delta": {}, "finish_reason": "stop"})
        for choice in chunks:
            self.wfile.write(b"data: " + json.dumps({**base, "choices": [choice]}).encode() + b"\n\n")
        self.wfile.write(b"data: " + json.dumps({**base, "choices": [], "usage": usage}).encode() + b"\n\n")
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--require-key", default=None)
    args = ap.parse_args()
    Handler.required_key = args.require_key
    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
