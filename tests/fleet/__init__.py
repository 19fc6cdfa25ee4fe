"""A rate limit shared through Redis: the script, the limiter, worker processes, the CLI."""
