"""One studio server per test session (faces-64, loopback, a free port), shared by the gradio_client API
tests and the browser test. Its uploads and output folders live in a temporary directory."""

from __future__ import annotations

import socket

import pytest
import torch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def studio_server(tmp_path_factory):
    """``(url, folders)`` of a running studio; closed at the end of the session."""
    pytest.importorskip("gradio", reason="the studio extra is not installed: pip install -e '.[studio]'")
    from regiongan.studio.app import StudioConfig, build_app, launch_kwargs, prepare_environment
    from regiongan.studio.security import StudioFolders

    root = tmp_path_factory.mktemp("studio")
    folders = StudioFolders.create(root / "uploads", root / "out")
    prepare_environment(folders)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a busy 2-core machine: one thread per forward is fastest for 64² images
    app = build_app(StudioConfig("faces-64", folders, seed=3))
    port = _free_port()
    app.queue(default_concurrency_limit=8).launch(prevent_thread_lock=True, quiet=True, **launch_kwargs("127.0.0.1", port, folders))
    try:
        yield f"http://127.0.0.1:{port}/", folders
    finally:
        app.close()
        torch.set_num_threads(threads)
