"""The error for input a caller must fix, shared by every app's services."""

from __future__ import annotations


class InvalidRequest(ValueError):
    """Input the caller must fix; ``field`` names what to fix. The API answers it with a
    400 naming the field, a page with the message beside the form."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
