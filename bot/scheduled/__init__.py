"""Notifications and scheduled work: mail to mentors, jobs, the worker, check-ins."""
