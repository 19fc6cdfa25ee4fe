"""Asyncio SDK for the voucher operations of the Mews Connector API."""
