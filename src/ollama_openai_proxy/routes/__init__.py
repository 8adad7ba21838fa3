"""HTTP routes: thin handlers that parse, translate, call the backend, translate back and write."""
