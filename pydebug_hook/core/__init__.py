"""What every layer relies on: settings, rank, the session, our messages, resource
lifetimes, the records of waiting sessions, and the one dispatch.  See
docs/architecture.md."""
