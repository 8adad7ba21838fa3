"""The serving layer, one module per API family: routes hand it a parsed request and render what it
returns; it resolves the model, applies virtual models, calls the backend (with fallbacks) and
translates the answer, one way down."""
