"""The `c66d` client commands that talk to a running c66d through its API, and helpers shared
by every command module. Nothing here imports a subsystem, so the CLI starts fast."""
