"""Renderers of a Profile. Nothing here imports torch."""
