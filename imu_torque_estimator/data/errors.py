"""Exceptions shared by the data readers."""

from __future__ import annotations


class DataFormatError(ValueError):
    """A data file is malformed. The message names the file and the line or field at fault."""

