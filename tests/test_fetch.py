"""fetch against real HTTP servers on 127.0.0.1 serving the shared MNIST files (no internet)."""

from __future__ import annotations

import functools
import gzip
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from oscsim.data import DATASETS, load_dataset
from oscsim.errors import DataError
from oscsim.fetch import fetch

FILES = [f"{name}.gz" for name in DATASETS["mnist"].md5]


class _Mirror:
    """A loopback HTTP server over one folder, recording the paths requested."""

    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        mirror = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                mirror.requests.append(self.path)
                super().do_GET()

            def log_message(self, format: str, *args: object) -> None:
                """Keep the test output quiet."""

        handler = functools.partial(Handler, directory=str(root))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], _Mirror]]:
    """Start loopback mirrors on demand; proxies off and $OSCSIM_MIRROR unset, so nothing leaves."""
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "*")
    monkeypatch.delenv("OSCSIM_MIRROR", raising=False)
    mirrors: list[_Mirror] = []

    def start(root: Path) -> _Mirror:
        mirrors.append(_Mirror(root))
        return mirrors[-1]

    yield start
    for mirror in mirrors:
        mirror.close()


def _assert_same_files(got: Path, want: Path) -> None:
    for file in FILES:
        assert (got / file).read_bytes() == (want / file).read_bytes(), file
    assert not list(got.glob(".*.part")), "temporary files left behind"


def _closed_port_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_fetch_downloads_verifies_and_skips_valid(
    shared_mnist: Path, tmp_path: Path, serve: Callable[[Path], _Mirror]
) -> None:
    mirror = serve(shared_mnist)
    dest = fetch("mnist", tmp_path / "dl", mirrors=[mirror.url], progress=True)
    assert dest == tmp_path / "dl"
    _assert_same_files(dest, shared_mnist)
    assert sorted(mirror.requests) == sorted(f"/{file}" for file in FILES)
    assert len(load_dataset("mnist", "test", data_dir=dest)) == 10000
    fetch("mnist", dest, mirrors=[mirror.url], progress=False)
    assert len(mirror.requests) == len(FILES), "valid files were downloaded again"


def test_fetch_rejects_corrupt_mirror_and_uses_next(
    shared_mnist: Path, tmp_path: Path, serve: Callable[[Path], _Mirror]
) -> None:
    bad_root = tmp_path / "bad"
    bad_root.mkdir()
    for file in FILES:
        (bad_root / file).write_bytes((shared_mnist / file).read_bytes())
    labels = (shared_mnist / "train-labels-idx1-ubyte.gz").read_bytes()
    (bad_root / "train-labels-idx1-ubyte.gz").write_bytes(labels[: len(labels) // 2])
    plain = bytearray(gzip.decompress((shared_mnist / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    plain[100] = (plain[100] + 1) % 10  # one label changed: valid gzip and IDX, wrong md5
    (bad_root / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(plain)))
    bad, good = serve(bad_root), serve(shared_mnist)
    dest = fetch("mnist", tmp_path / "dl", mirrors=[bad.url, good.url], progress=False)
    _assert_same_files(dest, shared_mnist)
    assert len(bad.requests) == len(FILES)
    assert sorted(good.requests) == ["/t10k-labels-idx1-ubyte.gz", "/train-labels-idx1-ubyte.gz"]


def test_fetch_replaces_invalid_present_file(
    shared_mnist: Path, tmp_path: Path, serve: Callable[[Path], _Mirror]
) -> None:
    dest = tmp_path / "dl"
    dest.mkdir()
    for file in FILES:
        (dest / file).write_bytes((shared_mnist / file).read_bytes())
    (dest / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    mirror = serve(shared_mnist)
    fetch("mnist", dest, mirrors=[mirror.url], progress=False)
    assert mirror.requests == ["/t10k-labels-idx1-ubyte.gz"]
    _assert_same_files(dest, shared_mnist)


def test_fetch_all_mirrors_failing_names_each_url(
    tmp_path: Path, serve: Callable[[Path], _Mirror]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    first, second = serve(empty), serve(empty)
    refused = _closed_port_url()
    dest = tmp_path / "dl"
    with pytest.raises(DataError) as info:
        fetch("mnist", dest, mirrors=[first.url, second.url, refused], progress=False)
    message = str(info.value)
    file = FILES[0]
    assert f"{first.url}{file}: HTTP 404" in message
    assert f"{second.url}{file}: HTTP 404" in message
    assert f"{refused}{file}: " in message and "refused" in message.lower()
    assert "OSCSIM_MIRROR" in message and "--data-dir" in message
    assert list(dest.iterdir()) == []


def test_fetch_default_dest_and_env_mirror(
    shared_mnist: Path,
    tmp_path: Path,
    serve: Callable[[Path], _Mirror],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "site"
    root.mkdir()
    (root / "mnist").symlink_to(shared_mnist)
    mirror = serve(root)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OSCSIM_DATA", raising=False)
    monkeypatch.setenv("OSCSIM_MIRROR", f"{_closed_port_url()}, {mirror.url}{{name}}")
    dest = fetch("mnist", progress=False)
    assert dest == tmp_path / "home" / ".cache" / "oscsim" / "mnist"
    _assert_same_files(dest, shared_mnist)
    assert load_dataset("mnist", "test").source == str(dest)


def test_fetch_refuses_embedded_and_unknown(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"ships inside oscsim.*mnist, fashion-mnist"):
        fetch("digits14", tmp_path)
    with pytest.raises(DataError, match="not a known data set"):
        fetch("cifar10", tmp_path)
    assert list(tmp_path.iterdir()) == []
