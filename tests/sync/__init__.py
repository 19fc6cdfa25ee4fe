"""Sync and apply: plans, diffs, crashes mid-apply, the CLI's commands."""
