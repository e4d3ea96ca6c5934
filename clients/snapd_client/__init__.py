"""snapd client."""
