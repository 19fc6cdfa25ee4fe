"""The command line: its commands, argument types and demo."""
