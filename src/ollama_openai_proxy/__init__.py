"""ollama-openai-proxy: serve the Ollama HTTP API from OpenAI-compatible model servers."""

__version__ = "0.1.0"

# The Ollama server version this proxy reports on /api/version. Clients gate features on it
# (Copilot needs >= 0.6.4, tool-call ids and logprobs arrived in 0.12.x, /v1/responses in 0.13.3,
# /v1/messages in 0.14.0, think "max" in 0.22.0), so it tracks the release the reference describes.
OLLAMA_COMPAT_VERSION = "0.32.0"
