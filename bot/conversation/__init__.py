"""The conversation: its script, one turn, coaching, what is kept of it."""
