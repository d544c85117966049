"""The learning loop: which scored rows a person should review, corrections back in, and drift."""
