"""Messaging channels: Matrix, Teams/Rocket.Chat/Mattermost, what a channel receives."""
