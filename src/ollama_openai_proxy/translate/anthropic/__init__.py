"""Anthropic Messages ⇄ Ollama chat: request, response, stream events and errors (sans-IO)."""
