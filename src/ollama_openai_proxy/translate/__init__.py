"""The sans-IO translation core: pure functions and stream state machines, no I/O, no web framework."""
