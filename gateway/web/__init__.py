"""The HTTP and WebSocket surface: it translates requests, and owns no state of its own."""
