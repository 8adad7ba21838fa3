"""ASGI middleware, one per concern, outermost first: context, auth, exchange, errors."""
