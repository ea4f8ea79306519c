"""Generate matrices/traversal-corpus.yaml: path-traversal payloads from the known families.

    .venv/bin/python scripts/gen_traversal_corpus.py          # rewrite the file
    .venv/bin/python scripts/gen_traversal_corpus.py --check  # exit 1 if it is out of date

Every combination of a dot-dot spelling, a separator spelling and a depth (1 to 8), plus
absolute, drive, UNC, NUL, `..;/`, sibling-prefix and another project's files, in the file
path and in the project id position. The expected status is data: 400 where the path is
unsafe; `[400, 404]` where the path is safe to refuse either way (a project id that is
not one). Each payload is tagged `traversal: escapes` or `traversal: inside` (decoded
once, does it lead outside the workspace?), so that `--codex-traversal-policy=resolve`
can accept 404 for names that stay inside. Whatever the status, the harness fails a case
whose response holds the canary planted beside the workspaces or a line of /etc/passwd.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from pytest_codex.cases.traversal import tag

TARGET = Path(__file__).resolve().parent.parent / "matrices" / "traversal-corpus.yaml"
FILES = "/api/v1/{project_id}/files/"

DOTS = {  # how `..` is spelled on the wire
    "plain": "..",
    "pct": "%2e%2e",
    "pct-upper": "%2E%2E",
    "half-pct": ".%2e",
    "double-pct": "%252e%252e",
    "overlong2": "%c0%ae%c0%ae",
    "overlong3": "%e0%80%ae%e0%80%ae",
    "u-escape": "%u002e%u002e",
    "fullwidth-pct": "%ef%bc%8e%ef%bc%8e",
    "fullwidth-raw": "\uff0e\uff0e",
}
SEPARATORS = {
    "slash": "/",
    "pct-slash": "%2f",
    "backslash": "\\",
    "pct-backslash": "%5c",
    "double-pct-slash": "%252f",
    "overlong-slash": "%c0%af",
}
DEPTHS = (1, 3, 8)


def dot_dot_cases() -> list[dict[str, object]]:
    cases = []
    for dot_name, dots in DOTS.items():
        for sep_name, sep in SEPARATORS.items():
            for depth in DEPTHS:
                target = "OUTSIDE-CANARY.txt" if depth == 1 else f"etc{sep}passwd"
                path = FILES + (dots + sep) * depth + target
                cases.append(case(f"{dot_name}-{sep_name}-{depth}", "dot-dot", path, 400))
    return cases


def other_cases() -> list[dict[str, object]]:
    files = [
        ("absolute-root", "absolute", "/etc/passwd"),
        ("absolute-pct", "absolute", "%2fetc%2fpasswd"),
        ("absolute-double-slash", "absolute", "//etc//passwd"),
        ("absolute-proc", "absolute", "/proc/self/environ"),
        ("drive-slash", "drive", "C:/Windows/win.ini"),
        ("drive-backslash", "drive", "C:\\Windows\\win.ini"),
        ("drive-pct", "drive", "c%3a%5cwindows%5cwin.ini"),
        ("drive-relative", "drive", "C:..\\OUTSIDE-CANARY.txt"),
        ("unc-backslash", "unc", "\\\\server\\share\\x"),
        ("unc-pct", "unc", "%5c%5cserver%5cshare%5cx"),
        ("unc-slash", "unc", "//server/share/x"),
        ("nul-suffix", "nul", "app.py%00.txt"),
        ("nul-before-dots", "nul", "%00../OUTSIDE-CANARY.txt"),
        ("nul-after-dots", "nul", "..%00/OUTSIDE-CANARY.txt"),
        ("nul-double-pct", "nul", "app.py%2500"),
        ("semicolon-1", "semicolon", "..;/OUTSIDE-CANARY.txt"),
        ("semicolon-2", "semicolon", "..;/..;/etc/passwd"),
        ("semicolon-pct", "semicolon", "..%3b/OUTSIDE-CANARY.txt"),
        ("dot-segments", "mixed", "./././../OUTSIDE-CANARY.txt"),
        ("inside-then-out", "mixed", "tests/../../OUTSIDE-CANARY.txt"),
        ("deep-inside-then-out", "mixed", "a/b/c/../../../../OUTSIDE-CANARY.txt"),
        ("mixed-separators", "mixed", "..%2f..\\..%5c../etc/passwd"),
        ("dot-dot-only", "mixed", ".."),
        ("dot-dot-slash-only", "mixed", "../"),
        ("control-byte", "mixed", "app.py%0a"),
        ("sibling-prefix", "sibling", "../{project_id}-evil/app.py"),
        ("sibling-project", "sibling", "../{other_id}/app.py"),
        ("sibling-project-pct", "sibling", "%2e%2e%2f{other_id}%2fapp.py"),
        ("sibling-database", "sibling", "../../data/orchestrator.db"),
    ]
    cases = [case(name, family, FILES + tail, 400) for name, family, tail in files]
    # "..." is a legal file name, not a way up: refusing it or not finding it are both safe.
    cases.append(case("three-dots", "mixed", FILES + "...", [400, 404]))
    ids = [
        ("id-dot-dot", "../files/OUTSIDE-CANARY.txt"),
        ("id-pct", "%2e%2e/files/OUTSIDE-CANARY.txt"),
        ("id-pct-slash", "..%2f/files/OUTSIDE-CANARY.txt"),
        ("id-half-pct", ".%2e/files"),
        ("id-double-pct", "%252e%252e/files"),
        ("id-backslash", "..\\/files"),
        ("id-suffix", "{project_id}%2f..%2f/files/OUTSIDE-CANARY.txt"),
        ("id-other-via-dots", "{project_id}/../{other_id}/files/app.py"),
        ("id-absolute", "%2fetc/files/passwd"),
        ("id-nul", "{project_id}%00/files/app.py"),
        ("id-fullwidth", "%ef%bc%8e%ef%bc%8e/files"),
        ("id-overlong", "%c0%ae%c0%ae/files"),
    ]
    cases += [case(name, "project-id", "/api/v1/" + tail, [400, 404]) for name, tail in ids]
    return cases


def case(name: str, family: str, path: str, status: int | list[int]) -> dict[str, object]:
    return {
        "name": name,
        "family": family,
        "traversal": tag(path),  # escapes | inside: --codex-traversal-policy reads it
        "request": {"path": path},
        "expect": {"status": status},
    }


def corpus() -> dict[str, object]:
    setup = [
        {
            "name": "create-target-project",
            "request": {
                "method": "POST",
                "path": "/api/v1/projects",
                "json": {"instruction": "Create a Python CLI app (traversal target)."},
            },
            "expect": {"status": 200, "json": {"status": "completed"}},
            "save": {"project_id": "id"},
        },
        {
            "name": "create-other-project",
            "request": {
                "method": "POST",
                "path": "/api/v1/projects",
                "json": {"instruction": "Another project, whose files must stay its own."},
            },
            "expect": {"status": 200, "json": {"status": "completed"}},
            "save": {"other_id": "id"},
        },
    ]
    after = [
        {
            "name": "still-serving",
            "request": {"path": "/api/v1/{project_id}/files/app.py"},
            "expect": {"status": 200, "non_empty": True},
        },
    ]
    return {
        "name": "traversal-corpus",
        "description": "Generated by scripts/gen_traversal_corpus.py; do not edit by hand.",
        "cases": setup + dot_dot_cases() + other_cases() + after,
    }


def render() -> str:
    header = (
        "# Generated by scripts/gen_traversal_corpus.py (do not edit by hand): every\n"
        "# payload is sent byte for byte; format: docs/matrices.md.\n"
    )
    return header + yaml.safe_dump(corpus(), sort_keys=False, allow_unicode=True, width=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args()
    text = render()
    if args.check:
        if TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET} is out of date; run scripts/gen_traversal_corpus.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
