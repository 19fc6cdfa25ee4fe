"""The client and its machinery: requests, bulk writes, reads, limits, retries, wire, telemetry."""
