"""Ed25519 signatures over model manifests: who may vouch for a model directory.

The manifest's sha256 list catches corruption, not an attacker: whoever can replace a file
can rewrite the manifest too. A signature over the manifest's exact bytes by a key the user
trusts is what makes a model loadable. Trusted public keys are the package's release keys
(which sign the shipped models) plus the user's: ``keys trust`` copies a key into
``<home>/trusted/``, and ``INTERACTION_CLASSIFIER_TRUSTED_KEYS`` lists more key files
(``os.pathsep``-separated). ``<home>`` is ``INTERACTION_CLASSIFIER_HOME`` or
``~/.config/interaction-classifier``; the trainer's private key is
``INTERACTION_CLASSIFIER_SIGNING_KEY`` or ``<home>/signing-key.pem`` (mode 0600).
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from interaction_classifier.config import RESOURCES
from interaction_classifier.io import write_bytes

ENV_HOME = "INTERACTION_CLASSIFIER_HOME"
ENV_SIGNING_KEY = "INTERACTION_CLASSIFIER_SIGNING_KEY"
ENV_TRUSTED_KEYS = "INTERACTION_CLASSIFIER_TRUSTED_KEYS"
# The project's release keys: every shipped artifact is signed by one of them. A release key
# whose private half is lost is not reused: a new one is added beside it, and the old public
# key stays so that the artifacts it signed still load (docs/reliability.md, "Keys").
RELEASE_KEYS = tuple(sorted((RESOURCES / "keys").glob("release-*.pub")))
ALGORITHM = "ed25519"


class SigningError(RuntimeError):
    """A key is missing, unreadable or too widely readable, or a signature does not verify."""


@dataclass(frozen=True)
class TrustedKey:
    """A public key and where it came from (named in messages)."""

    key: Ed25519PublicKey
    source: str

    @property
    def key_id(self) -> str:
        return key_id(self.key)


def home() -> Path:
    """The user's folder for the signing key and trusted keys."""
    return Path(os.environ.get(ENV_HOME) or Path.home() / ".config" / "interaction-classifier")


def default_key_path() -> Path:
    """Where the trainer looks for its private key."""
    return Path(os.environ.get(ENV_SIGNING_KEY) or home() / "signing-key.pem")


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """16 hex of the sha256 of the raw public key: short enough to read, named in manifests."""
    return hashlib.sha256(raw_public(key)).hexdigest()[:16]


def public_text(key: Ed25519PublicKey) -> str:
    """The public key as one base64 line (what ``keys trust`` accepts)."""
    return base64.b64encode(raw_public(key)).decode("ascii")


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def generate_key(path: Path, overwrite: bool = False) -> Ed25519PrivateKey:
    """Write a new private key (PEM, mode 0600, never over an existing file unless told)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise SigningError(f"{path} exists; refusing to overwrite a signing key (--force)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # new folders: owner only
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The private key at ``path``; refused if group or others may read it (as ssh does)."""
    path = Path(path)
    if not path.is_file():
        raise SigningError(f"no signing key at {path}: create one with `interaction-classifier "
                           f"keys generate`, set {ENV_SIGNING_KEY}, or train with --unsigned")
    if os.name == "posix" and stat.S_IMODE(path.stat().st_mode) & 0o077:
        raise SigningError(f"{path}: a signing key must be readable by its owner only "
                           f"(chmod 600 {path})")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{path}: not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path}: not an Ed25519 key")
    return key


def parse_public_key(text: str | bytes, source: str) -> Ed25519PublicKey:
    """A public key from PEM or from one base64 line of its 32 raw bytes."""
    data = text.encode("ascii", "replace") if isinstance(text, str) else text
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(data.strip(),
                                                                      validate=True))
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{source}: not an Ed25519 public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{source}: not an Ed25519 public key")
    return key


def trust_dir() -> Path:
    return home() / "trusted"


def trust_key(key: Ed25519PublicKey) -> Path:
    """Add a public key to the user's trusted keys; returns its file."""
    return write_bytes(trust_dir() / f"{key_id(key)}.pub", public_pem(key))


def trusted_keys() -> list[TrustedKey]:
    """The release keys, the user's trusted folder and the files the env var lists."""
    files = [*RELEASE_KEYS, *sorted(trust_dir().glob("*.pub"))]
    files += [Path(p) for p in os.environ.get(ENV_TRUSTED_KEYS, "").split(os.pathsep) if p]
    keys = []
    for path in files:
        if not path.is_file():
            raise SigningError(f"trusted key file {path} does not exist ({ENV_TRUSTED_KEYS})")
        keys.append(TrustedKey(parse_public_key(path.read_bytes(), str(path)), str(path)))
    return keys


def signature_record(key: Ed25519PrivateKey, message: bytes) -> dict[str, str]:
    """What ``signature.json`` holds: algorithm, key id and the base64 signature."""
    return {"algorithm": ALGORITHM, "key_id": key_id(key.public_key()),
            "signature": base64.b64encode(key.sign(message)).decode("ascii")}


def verify_record(record: object, message: bytes, where: str) -> TrustedKey:
    """The trusted key whose signature ``record`` is over ``message``, else SigningError."""
    if not isinstance(record, dict) or record.get("algorithm") != ALGORITHM:
        raise SigningError(f"{where}: not an {ALGORITHM} signature record")
    try:
        signature = base64.b64decode(str(record.get("signature", "")), validate=True)
    except ValueError as exc:
        raise SigningError(f"{where}: the signature is not base64") from exc
    keys = trusted_keys()
    for trusted in keys:
        try:
            trusted.key.verify(signature, message)
        except InvalidSignature:
            continue
        return trusted
    raise SigningError(
        f"{where}: the manifest is not signed by a trusted key (signed as key "
        f"{record.get('key_id')!r}; trusted: {', '.join(k.key_id for k in keys)}). Trust the "
        "signer with `interaction-classifier keys trust PUBLIC_KEY` only if you know it")
