"""Two registries, a builder signing key, a lookaside server and a policy, for promotion tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from koji_containerbuild.config import BuilderConfig
from koji_containerbuild.promoteconfig import PromoteSettings, SignerSettings
from koji_containerbuild.sandbox.env import signing
from koji_containerbuild.sandbox.env.registry import Registry


@dataclass
class Keys:
    builder_home: str
    builder_fpr: str
    other_home: str
    other_fpr: str
    builder_public: str


@pytest.fixture(scope="session")
def signing_keys(tmp_path_factory) -> Iterator[Keys]:
    base = tmp_path_factory.mktemp("gpg")
    builder = signing.make_gpg_key(str(base / "builder"), "Builder <builder@sandbox.invalid>")
    other = signing.make_gpg_key(str(base / "other"), "Other <other@sandbox.invalid>")
    public = signing.export_public_key(str(base / "builder"), builder, str(base / "builder.asc"))
    yield Keys(str(base / "builder"), builder, str(base / "other"), other, public)
    for home in ("builder", "other"):
        signing.stop_gpg_agent(str(base / home))


@dataclass
class Production:
    registry: Registry
    address: str
    config: BuilderConfig
    policy: str
    registries_d: str
    lookaside: str
    env: dict = field(default_factory=dict)

    def skopeo(
        self, *args: str, policy: str | None = None, gpg_home: str | None = None
    ) -> subprocess.CompletedProcess:
        cmd = ["skopeo", "--policy", policy or self.policy, "--registries.d", self.registries_d,
               *args]  # fmt: skip
        env = {**os.environ, "GNUPGHOME": gpg_home} if gpg_home else None
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=120, check=False, env=env
        )

    def tags(self, repository: str) -> list[str]:
        result = self.skopeo("list-tags", "--tls-verify=false", f"docker://{repository}")
        if result.returncode != 0:
            return []
        import json

        return sorted(json.loads(result.stdout)["Tags"] or [])


@pytest.fixture
def production(tmp_path, signing_keys):
    """A production registry with its lookaside on loopback and the builder's config for it."""
    registry = Registry(str(tmp_path / "production"))
    address = registry.start()
    lookaside_dir = str(tmp_path / "lookaside")
    server = signing.LookasideServer(lookaside_dir)
    url = server.start()
    registries_d = str(tmp_path / "registries.d")
    signing.write_registries_d(registries_d, address, lookaside_dir, url)
    policy = signing.write_policy(str(tmp_path / "policy.json"), address,
                                  signing_keys.builder_public)  # fmt: skip
    config = BuilderConfig()
    config.promote = PromoteSettings(registries_d=registries_d, policy=policy, tls_verify=False)
    config.signers = {
        "sandbox": SignerSettings(
            "sandbox", signing_keys.builder_fpr, gpg_home=signing_keys.builder_home
        )
    }
    yield Production(registry, address, config, policy, registries_d, lookaside_dir)
    registry.stop()
    server.stop()


def copy_image(source: str, destination: str, *extra: str) -> str:
    """skopeo copy between loopback registries; the destination's digest."""
    subprocess.run(
        ["skopeo", "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false",
         "--dest-tls-verify=false", *extra, f"docker://{source}", f"docker://{destination}"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    digest = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
         f"docker://{destination}"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    return digest


def lookaside_files(production: Production) -> list[str]:
    found = []
    for root, _dirs, files in os.walk(production.lookaside):
        found += [os.path.join(root, name) for name in files]
    return sorted(found)
