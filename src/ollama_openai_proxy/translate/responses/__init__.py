"""OpenAI Responses (stateless) ⇄ Ollama chat: request, response, stream events (sans-IO)."""
