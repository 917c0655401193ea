"""One router per resource of the registry service."""
