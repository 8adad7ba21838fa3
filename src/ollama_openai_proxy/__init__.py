"""ollama-openai-proxy: serve the Ollama HTTP API from OpenAI-compatible model servers."""

__version__ = "0.1.0"

# The Ollama server version this proxy reports on /api/version. Clients gate features on it
# (Copilot needs >= 0.6.4, tool-call ids and logprobs arrived in 0.12.x), so it tracks a recent release.
OLLAMA_COMPAT_VERSION = "0.13.5"
