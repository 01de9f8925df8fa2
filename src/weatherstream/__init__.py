"""Live weather for Django sites, pushed to browsers over WebSockets."""

__version__ = "0.1.0"
