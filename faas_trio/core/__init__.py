"""Code every component shares: messages, RPC, configuration, errors and logging."""
