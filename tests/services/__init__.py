"""Real servers that tests start for themselves (never what the machine happens to run)."""
