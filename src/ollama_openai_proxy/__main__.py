"""Entry point for ``python -m ollama_openai_proxy``."""

from ollama_openai_proxy.cli import main

raise SystemExit(main())
