"""After uploading the agent, Berth reads the file back over SFTP and checks its SHA-256
itself before the file can run: a bundle altered on its way or on the host is refused
(not left in place), whatever the agent would later say of itself."""

from __future__ import annotations

import io

import pytest

from agent_link import launch
from agent_link.errors import AgentStartFailed


class _Sftp:
    """The edge: an SFTP server whose disk changes what is written (``tamper``)."""

    def __init__(self, tamper: bool) -> None:
        self.files: dict[str, bytes] = {}
        self.tamper = tamper
        self.renamed: list[tuple[str, str]] = []

    def stat(self, path: str) -> object:
        return object()

    def open(self, path: str, mode: str) -> io.BytesIO:
        if mode == "rb":
            return io.BytesIO(self.files[path])
        return _Written(self, path)

    def remove(self, path: str) -> None:
        del self.files[path]

    def posix_rename(self, source: str, target: str) -> None:
        self.files[target] = self.files.pop(source)
        self.renamed.append((source, target))

    def close(self) -> None:
        pass


class _Written(io.BytesIO):
    """A file being written: what the server keeps on close (changed, if tampering)."""

    def __init__(self, sftp: _Sftp, path: str) -> None:
        super().__init__()
        self.sftp, self.path = sftp, path

    def chmod(self, mode: int) -> None:
        pass

    def set_pipelined(self, pipelined: bool) -> None:
        pass

    def close(self) -> None:
        data = self.getvalue()
        self.sftp.files[self.path] = data + b"#" if self.sftp.tamper else data
        super().close()


class _Client:
    def __init__(self, sftp: _Sftp) -> None:
        self.sftp = sftp

    def open_sftp(self) -> _Sftp:
        return self.sftp


def test_an_agent_that_reads_back_different_is_refused_and_removed():
    sftp = _Sftp(tamper=True)
    with pytest.raises(AgentStartFailed, match="reads back with SHA-256"):
        launch._upload(_Client(sftp), b"agent bytes")  # type: ignore[arg-type]
    assert sftp.files == {}  # neither installed nor left behind
    assert sftp.renamed == []


def test_an_agent_that_reads_back_the_same_is_installed():
    sftp = _Sftp(tamper=False)
    launch._upload(_Client(sftp), b"agent bytes")  # type: ignore[arg-type]
    assert sftp.files == {launch.REMOTE_PATH: b"agent bytes"}
