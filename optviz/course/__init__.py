"""Helpers of the course lectures (one module per lecture)."""
