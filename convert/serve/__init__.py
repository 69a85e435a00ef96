"""Stage 6, `seedpress serve`: the app, file responses, search endpoints and queries, security headers, metrics, bounded numbers, the HTTP protocol and its event loop."""
