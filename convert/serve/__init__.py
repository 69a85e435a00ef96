"""Stage 6, `seedpress serve`: the app, file responses, search endpoints, security headers and the HTTP protocol."""
