"""Rasa SDK custom actions. They stay thin: the logic lives in the `bot` package."""
