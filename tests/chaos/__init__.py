"""Faults, hostile servers, resource hygiene and properties that must hold under them."""
