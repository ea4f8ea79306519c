"""Closing the session's bundle: the run record serialised into the manifest's run facts,
the summary and manifest written, then signing, archiving and pruning as the options ask.
Called once per session by the plugin, or by the xdist controller.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

import pytest

import pytest_codex
from pytest_codex.adapter import junit
from pytest_codex.adapter.stash import LIVE_ENV_KEY, RECORD_KEY, SETTINGS_KEY, SIGNING_KEY
from pytest_codex.bundle import retention, signing
from pytest_codex.bundle.writer import EvidenceBundle, SecretLeakError, sha256_file
from pytest_codex.config import envfile
from pytest_codex.review import compare


def close_bundle(config: pytest.Config, bundle: EvidenceBundle, started: float) -> None:
    """Write the bundle's summary and manifest from the run record; raises
    SecretLeakError (also kept in the record) when the final scan finds a secret."""
    record = config.stash[RECORD_KEY]
    settings = config.stash[SETTINGS_KEY]
    if settings.result_schema is not None:
        keep_result_schema(bundle, settings.result_schema)
    for skipped in record.skipped:
        bundle.record(skipped)
    signing_key = config.stash.get(SIGNING_KEY, None)
    bundle.will_sign = signing_key is not None
    try:
        bundle.finalize(run_facts(config, bundle, started))
    except SecretLeakError as error:
        record.leak = str(error)
        raise
    finally:
        record.verdict = bundle.verdict
        if bundle.verdict is not None:
            junit.suite_property(config, "codex_verdict", bundle.verdict.line(bundle.mode))
    if signing_key is not None:
        signing.sign_bundle(bundle.path, signing_key)
        record.signed = True
    if settings.evidence_archive:
        record.archive = retention.archive(bundle.path)
    if settings.evidence_keep is not None:
        record.pruned = retention.prune(
            settings.evidence_dir, settings.evidence_keep, bundle.path.parent, bundle.created
        )


def run_facts(config: pytest.Config, bundle: EvidenceBundle, started: float) -> dict[str, Any]:
    """The manifest's run facts, serialised from the run record."""
    record = config.stash[RECORD_KEY]
    settings = config.stash[SETTINGS_KEY]
    live_env = config.stash[LIVE_ENV_KEY]
    facts: dict[str, Any] = {
        "versions": {
            "pytest_codex": pytest_codex.__version__,
            "pytest": pytest.__version__,
            "python": platform.python_version(),
            "docker": record.docker_version,
            "target": record.target_version,
        },
        "target": record.target,
        "timings_s": {**record.timings, "session": round(time.perf_counter() - started, 3)},
        "session": record.session(run=sum(case["role"] == "selected" for case in bundle.cases)),
    }
    if record.matrices:
        facts["matrices"] = dict(sorted(record.matrices.items()))  # label -> sha256, cases
    for key, value in (
        ("checks_not_run", record.checks_not_run),
        ("rollback", record.rollback),
        ("model_preflight", record.model_preflight),
        ("load", record.load),
    ):
        if value:
            facts[key] = value
    if record.outages.count:  # the verdict says it (session.target_outages); details here
        facts["target_outages"] = {
            "count": record.outages.count,
            "outages": record.outages.outages,
        }
    if live_env is not None:
        facts["live"] = {
            "env_file": live_env.path.name,
            "env": live_env.presence(),
            "model": settings.live_model,
            "git_ignore": envfile.git_ignored(config.rootpath),
        }
    if bundle.used_schemas:
        facts["schemas"] = dict(sorted(bundle.used_schemas.items()))  # file -> source, sha
    if record.leftovers_removed is not None:
        facts["stack_hygiene"] = {"leftovers_removed": record.leftovers_removed}
    if settings.mode == "live":
        # The Codex CLI the workers ran, as they wrote it in result.json (the entrypoint).
        facts["versions"]["codex_cli"] = ", ".join(record.worker_versions) or "not recorded"
        facts["comparison_with_mocked"] = compare.comparison(
            settings.evidence_dir, bundle.cases, live_bundle=bundle.path
        )
    return facts


TARGET_RESULT_SCHEMA = "schemas/target-result.schema.json"


def keep_result_schema(bundle: EvidenceBundle, path: Path) -> None:
    """The target's result.json schema (`--codex-result-schema`) into the bundle, marked
    as the one every result.json of the run must meet (verify uses it)."""
    written = bundle.write_bytes(TARGET_RESULT_SCHEMA, path.read_bytes())
    bundle.used_schemas[TARGET_RESULT_SCHEMA] = {
        "schema": str(path.name),
        "source": "--codex-result-schema",
        "file": TARGET_RESULT_SCHEMA,
        "sha256": sha256_file(written),
        "role": "result",
    }
