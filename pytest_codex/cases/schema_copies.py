"""The schemas a run used, copied into its bundle once each with their sha256 for the
manifest: the source files' own bytes (shipped schemas from the package, files a schema's
`$ref`s reach beside it), so that a reviewer's sha256sum of the file matches. No pytest
import here.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from pytest_codex import schemas
from pytest_codex.bundle.writer import EvidenceBundle, sha256_file
from pytest_codex.matrix.files import Case, safe_path


def keep_schemas(evidence: EvidenceBundle, case: Case) -> None:
    """A copy of every schema the case uses, written once per run to the bundle
    (`schemas/<name>.schema.json` for shipped ones, `schemas/<path>.json` for files) and
    listed in `evidence.used_schemas` for the manifest: the file's own bytes, so
    that its `sha256` is the source file's."""
    used = evidence.used_schemas
    result = case.expect.get("result")
    result_ref = result.get("schema", "result") if isinstance(result, Mapping) else None
    for key, ref in case.schemas.items():
        if ref.bundle_file in used:
            if key == result_ref:
                used[ref.bundle_file]["role"] = "result"
            continue
        source = _schema_source(ref.ref if ref.shipped else ref.source, shipped=ref.shipped)
        used[ref.bundle_file] = {
            "schema": ref.ref,
            "source": ref.source,
            "file": ref.bundle_file,
            "sha256": _keep(evidence, ref.bundle_file, source, ref.document),
            "source_sha256": schemas.source_sha256(ref) or "",  # drift is told by it (diff)
            # `result`: what result.json files of this run must satisfy (verify uses it)
            "role": "result" if key == result_ref else "response",
        }
        folder = ref.bundle_file.removesuffix(".json") + ".refs/"
        for uri, document in ref.references:
            name = folder + safe_path(uri.split("/"), "")
            beside = None if ref.shipped else str(Path(ref.source).parent / uri)
            used[name] = {
                "schema": f"{ref.ref} $ref {uri}",
                "source": f"{ref.source} $ref {uri}",
                "file": name,
                "sha256": _keep(evidence, name, _schema_source(beside), document),
            }


def _schema_source(where: str | None, *, shipped: bool = False) -> bytes | None:
    """A schema file's bytes as they are on disk (a shipped one from the package); None
    when it cannot be read now (its parsed copy is kept instead)."""
    if where is None:
        return None
    try:
        if shipped:
            return (resources.files(schemas) / f"{where}.schema.json").read_bytes()
        return Path(where).read_bytes()
    except OSError:
        return None


def _keep(evidence: EvidenceBundle, name: str, source: bytes | None, document: object) -> str:
    """Write a schema into the bundle (its bytes, else its JSON); its sha256."""
    if source is None:
        written = evidence.write_json(name, document)
    else:
        written = evidence.write_bytes(name, source)
    return sha256_file(written)
