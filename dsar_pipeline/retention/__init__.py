"""Retention: how long a request's data may stay, in every state it can end in, and erasing it."""
