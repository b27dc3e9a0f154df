"""Security: API keys and roles, audit helpers."""
