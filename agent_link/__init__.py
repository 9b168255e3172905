"""The server's link to the agent on each host: SSH or local transport, sessions, pool."""
