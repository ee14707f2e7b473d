"""The error of kbnn's importers (kept apart so that the model zoo's weight loading and the
model importer can both raise it without importing each other)."""

__all__ = ["LarqImportError"]


class LarqImportError(ValueError):
    """A Larq model uses something kbnn cannot map (the message names it and what to do)."""
