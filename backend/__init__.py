"""Commune Pulse backend."""
