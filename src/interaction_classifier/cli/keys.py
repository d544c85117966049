"""``keys generate|trust|list|sign`` and ``model convert``: who vouches for a model, and
moving an old pickle-format model to the data format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from interaction_classifier.models import signing

keys_app = typer.Typer(help="Signing keys: create yours, trust others', sign a model.",
                       no_args_is_help=True)
model_app = typer.Typer(help="Model directories: convert the old pickle format.",
                        no_args_is_help=True)
KeyOption = Annotated[Path | None, typer.Option(
    "--signing-key", help=f"Private key (PEM). Default: ${signing.ENV_SIGNING_KEY}, else "
                          "<home>/signing-key.pem.")]


def fail(message: str) -> None:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(2)


def signer_for(path: Path | None, unsigned: bool) -> signing.Ed25519PrivateKey | None:
    """The private key to sign with, ``None`` with ``--unsigned``; a missing key is an error
    that names both ways out (checked before any long work starts)."""
    if unsigned:
        if path is not None:
            fail("--unsigned and --signing-key contradict each other")
        return None
    try:
        return signing.load_private_key(path or signing.default_key_path())
    except signing.SigningError as exc:
        fail(str(exc))


@keys_app.command("generate")
def generate(
    out: Annotated[Path | None, typer.Option(help="Where to write the private key.")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing key.")] = False,
    trust: Annotated[bool, typer.Option(help="Also trust its public key here.")] = True,
) -> None:
    """Create an Ed25519 signing key (mode 0600) that signs the models you train, and
    print its public key (give it to whoever loads your models: `keys trust`)."""
    path = out or signing.default_key_path()
    try:
        key = signing.generate_key(path, overwrite=force)
    except signing.SigningError as exc:
        fail(str(exc))
    typer.echo(f"private key {path} (keep it secret; back it up)")
    if out is not None and out != signing.default_key_path():
        typer.echo(f"train with --signing-key {path} or export {signing.ENV_SIGNING_KEY}={path}")
    if trust:
        typer.echo(f"trusted here: {signing.trust_key(key.public_key())}")
    typer.echo(f"public key {signing.key_id(key.public_key())}: "
               f"{signing.public_text(key.public_key())}")


@keys_app.command("trust")
def trust(
    public_key: Annotated[str, typer.Argument(
        help="A public key: a PEM file, or the base64 line `keys generate` printed.")],
) -> None:
    """Trust models signed by this key (copied into <home>/trusted/)."""
    source = Path(public_key)
    try:
        data = source.read_bytes() if source.is_file() else public_key
        key = signing.parse_public_key(data, public_key)
    except (OSError, signing.SigningError) as exc:
        fail(str(exc))
    typer.echo(f"trusted {signing.key_id(key)}: {signing.trust_key(key)}")


@keys_app.command("list")
def list_keys() -> None:
    """The public keys a model may be signed by to load: id and where each comes from."""
    try:
        for trusted in signing.trusted_keys():
            typer.echo(f"{trusted.key_id}  {trusted.source}")
    except signing.SigningError as exc:
        fail(str(exc))


@keys_app.command("sign")
def sign(
    model_dir: Annotated[Path, typer.Argument(help="Model directory to (re)sign.")],
    signing_key: KeyOption = None,
) -> None:
    """Sign a model you vouch for (e.g. one trained with --unsigned): its checksums are
    verified first, then its manifest is signed with your key."""
    import json

    from interaction_classifier.models.artifact import (
        MANIFEST,
        ArtifactError,
        verify_artifact,
        write_manifest,
    )

    signer = signer_for(signing_key, unsigned=False)
    try:
        verify_artifact(model_dir, trust_unsigned=True)
    except ArtifactError as exc:
        fail(str(exc))
    manifest = json.loads((model_dir / MANIFEST).read_text(encoding="utf-8"))
    if (model_dir / "MODEL_CARD.md").is_file():  # the card says who signed: render it again
        from interaction_classifier.evaluation.card import write_card
        from interaction_classifier.models.artifact import artifact_fields

        write_card(model_dir, {**manifest, **artifact_fields(signer)})
    write_manifest(model_dir, manifest, signer=signer)
    typer.echo(f"signed {model_dir} with key {signing.key_id(signer.public_key())}")


@model_app.command("convert")
def convert(
    old_dir: Annotated[Path, typer.Argument(help="Old model directory (model.joblib).")],
    new_dir: Annotated[Path, typer.Argument(help="New folder for the converted model.")],
    trust_pickle: Annotated[bool, typer.Option(
        help="Required: converting unpickles the old model, which can run any code in it; "
             "only for a model you made or trust.")] = False,
    signing_key: KeyOption = None,
    unsigned: Annotated[bool, typer.Option(help="Write the new model unsigned.")] = False,
) -> None:
    """Convert an old pickle-format model to the data format (model.json + weights.npz),
    signed, and check that both give the same outputs."""
    from interaction_classifier.models.artifact import ArtifactError
    from interaction_classifier.models.legacy import convert as run_conversion

    if not trust_pickle:
        fail("converting unpickles OLD_DIR/model.joblib, which runs any code an attacker put "
             "in it: pass --trust-pickle only for a model you made or trust")
    signer = signer_for(signing_key, unsigned)
    try:
        done = run_conversion(old_dir, new_dir, trust_pickle=True, signer=signer)
    except (ArtifactError, OSError) as exc:
        fail(str(exc))
    typer.echo(f"converted {old_dir} -> {done.directory}; on {done.texts} texts the largest "
               f"output difference is {done.max_abs_difference:.3g}, labels "
               f"{'identical' if done.labels_equal else 'DIFFER'}")
    if done.max_abs_difference > 1e-6 or not done.labels_equal:
        raise typer.Exit(1)
