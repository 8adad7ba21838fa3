"""Wire types: the JSON shapes of the Ollama API (requests validated here) and of OpenAI's."""
