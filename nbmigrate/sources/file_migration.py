"""A migration read from a file, loaded on first use, and the checksum of its normalised source."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..model import Migration

_BOM = b"\xef\xbb\xbf"


def checksum_bytes(data: bytes) -> str:
    """Checksum of normalised source: a BOM or CRLF line endings are not a change."""
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return hashlib.sha256(data).hexdigest()


def checksum_text(text: str) -> str:
    return checksum_bytes(text.encode("utf-8"))


class FileMigration(Migration):
    """A migration read from a file; its contents are loaded on first use."""

    def __init__(self, directory: Path, filename: str, version: str, name: str) -> None:
        super().__init__(version=version, name=name, description="")
        self.directory = directory
        self.filename = filename
        self._path: Path | None = None
        self._data: bytes | None = None
        self._checksum: str | None = None
        self._loaded = False

    @property
    def path(self) -> Path:  # type: ignore[override]
        """Built on first use: listing thousands of files makes no Path objects."""
        if self._path is None:
            self._path = self.directory / self.filename
        return self._path

    def read(self) -> bytes:
        """The file's bytes, read once: what runs is what the checksum describes."""
        if self._data is None:
            self._data = self.path.read_bytes()
        return self._data

    @property
    def checksum(self) -> str:  # type: ignore[override]
        """Read on first use: a no-op `up` never opens the files of applied migrations."""
        if self._checksum is None:
            self._checksum = checksum_bytes(self.read())
        return self._checksum

    def load(self) -> None:
        if not self._loaded:
            self._load()
            self._loaded = True

    def _load(self) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.version} {self.path}>"
