"""scLong workflow package."""
