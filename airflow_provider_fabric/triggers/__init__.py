"""Triggers behind the provider's deferrable sensors (they only read, never create)."""
