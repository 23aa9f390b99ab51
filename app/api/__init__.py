"""The REST API: app factory (main.py), dependencies (deps.py), error handling, one router per resource."""
