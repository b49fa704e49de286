"""Text analysis: signals (rules and a learned model), competencies, the Dutch pipeline."""
