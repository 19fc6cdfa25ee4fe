"""The simulator, judged against the API's documentation over raw HTTP (no SDK)."""
