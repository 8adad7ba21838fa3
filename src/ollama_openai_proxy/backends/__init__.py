"""Backends: HTTP clients for OpenAI-compatible servers, and the model catalog that routes to them."""
