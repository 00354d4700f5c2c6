"""The vehicle domain, pure: no I/O, no database, no HTTP."""
