"""The sandbox's docker-registry on loopback: start, answer, stop without leftovers."""

from __future__ import annotations

import os
import socket
import urllib.request

import pytest

from koji_containerbuild.sandbox.env.registry import Registry, RegistryError

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url):
    with NO_PROXY.open(url, timeout=5) as response:
        return response.status, response.read()


def test_start_serves_the_v2_api_on_loopback(tmp_path):
    registry = Registry(str(tmp_path))
    address = registry.start()
    try:
        host, port = address.rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0
        assert get(f"http://{address}/v2/") == (200, b"{}")
        assert get(f"http://{address}/v2/_catalog")[1] == b'{"repositories":[]}\n'
    finally:
        registry.stop()


def test_config_keeps_storage_under_the_root_and_enables_delete(tmp_path):
    with Registry(str(tmp_path)) as registry:
        config = (tmp_path / "config.yml").read_text()
        assert f"rootdirectory: {tmp_path}/storage" in config
        assert f"addr: {registry.address}" in config
        assert "delete:\n    enabled: true" in config


def test_stop_leaves_no_process(tmp_path):
    registry = Registry(str(tmp_path))
    registry.start()
    pid = registry.pid
    assert os.path.exists(f"/proc/{pid}")

    registry.stop()

    assert not os.path.exists(f"/proc/{pid}")
    registry.stop()  # stopping twice is harmless


def test_a_fixed_port_is_used(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Registry(str(tmp_path), port=port) as registry:
        assert registry.address == f"127.0.0.1:{port}"
        assert get(f"http://{registry.address}/v2/")[0] == 200


def test_a_busy_port_fails_with_a_sentence_and_no_process(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        registry = Registry(str(tmp_path), port=busy.getsockname()[1])
        with pytest.raises(RegistryError, match=r"exited at start.*registry\.log"):
            registry.start(timeout=10)
    assert registry.pid is None
