"""Everything Rasa loads from this project (config.yml, credentials.yml, endpoints.yml)
and the action server: the one place where Rasa meets the product code."""
