"""app/launch.py: the helper that starts `vcn serve` for benchmarks and end-to-end tests."""

from __future__ import annotations

import pytest

from app.launch import free_port, serve_in_subprocess


def test_a_server_that_cannot_start_raises_with_its_own_words(tmp_path):
    with (tmp_path / "serve.log").open("w+") as log:
        with pytest.raises(RuntimeError, match=r"exited with [1-9](.|\n)*no such checkpoint file"):
            with serve_in_subprocess(tmp_path / "missing.safetensors", ready_s=60, log=log):
                pass


def test_free_port_is_a_loopback_port():
    assert 1024 <= free_port() <= 65535
