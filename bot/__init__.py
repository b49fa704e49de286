"""Loopbaancoach: the project's own package (storage, signals, competencies, summaries,
portal, channels, CLI). Importing it must stay light: the Rasa server, the action server
and the portal all import parts of it."""

__version__ = "0.1.0"
