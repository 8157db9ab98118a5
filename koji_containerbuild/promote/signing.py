"""Signers: who signs a promoted image, behind one small interface.

The first signer is simple signing (containers-signature(5)): skopeo signs
with a GPG key the builder holds and writes the signature where the
registries.d configuration puts the production registry's lookaside.
A sigstore key or a remote signing service is another Signer subclass.
"""

from __future__ import annotations

import abc

from koji_containerbuild.promote.registry import PromoteError, Registries
from koji_containerbuild.promoteconfig import SignerSettings


class Signer(abc.ABC):
    """Signs an image already in the production registry, for one identity."""

    @abc.abstractmethod
    def sign(self, registries: Registries, repository: str, digest: str, identity: str) -> None:
        """Sign ``repository@digest`` (every arch, and the list) as ``identity`` (repo:tag)."""

    @abc.abstractmethod
    def describe(self) -> dict:
        """What the task result says about the signature (type, key fingerprint)."""


class SimpleSigner(Signer):
    """Simple signing with skopeo ``--sign-by`` and a GPG key in ``gpg_home``."""

    def __init__(self, settings: SignerSettings) -> None:
        self.settings = settings

    def sign(self, registries: Registries, repository: str, digest: str, identity: str) -> None:
        env = {"GNUPGHOME": self.settings.gpg_home} if self.settings.gpg_home else None
        reference = f"{repository}@{digest}"
        try:
            registries.copy(
                reference,
                reference,
                extra=["--sign-by", self.settings.fingerprint, "--sign-identity", identity],
                env=env,
            )
        except PromoteError as error:
            raise PromoteError(
                f"Signing {identity} with key {self.settings.fingerprint} failed: {error}"
            ) from None

    def describe(self) -> dict:
        return {"type": "simple", "fingerprint": self.settings.fingerprint}


def signer_for(signers: dict, name: str) -> Signer:
    """The signer the builder holds under ``name`` ([signer:NAME]), or PromoteError."""
    settings = signers.get(name)
    if settings is None:
        known = ", ".join(sorted(signers)) or "none"
        raise PromoteError(
            f"The promotion rule signs with {name!r}, which this builder does not hold "
            f"(its signers: {known}): add [signer:{name}] to the builder plugin's config."
        )
    return SimpleSigner(settings)
