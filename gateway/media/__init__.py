"""The media path: the caller's peer connection, relays to viewers, and snapshots."""
