"""Errors raised by the virtual-model package, each a ProxyError carrying the HTTP status to answer with."""

from __future__ import annotations

from ollama_openai_proxy.translate.errors import ProxyError


class VirtualModelError(ProxyError, ValueError):
    """A request the virtual-model layer refuses (bad create body, bad Modelfile, cycle); HTTP 400."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(status, message)


class ReadOnlyModelError(VirtualModelError):
    """An attempt to change or delete a model declared in the configuration file; HTTP 400."""

    def __init__(self, name: str) -> None:
        super().__init__(f"model '{name}' is declared in the configuration file and cannot be changed here")
        self.name = name


class ModelNotFoundError(ProxyError, LookupError):
    """A virtual model that does not exist (copy/delete source); HTTP 404 with Ollama's wording."""

    def __init__(self, name: str, *, quote: str = "'") -> None:
        super().__init__(404, f"model {quote}{name}{quote} not found")
        self.name = name
