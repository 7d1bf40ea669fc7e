"""Backends: the Backend contract, MockBackend, and one module per runtime or provider."""
