"""The `codex` options: help, validation and precedence (command line > ini > default)."""

from __future__ import annotations

import pytest

SHOW_SETTINGS = """
def test_show(codex_settings):
    print("MODE=" + codex_settings.mode)
    print("BASE=" + str(codex_settings.base_url))
    print("TIMEOUT=" + str(codex_settings.request_timeout))
    print("EVIDENCE=" + codex_settings.evidence_dir.name)
"""


def test_help_lists_the_codex_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "*Codex orchestrator validation (pytest-codex)*",
            "*--codex-mode=CODEX_MODE*",
            "*--codex-base-url=*",
            "*--codex-compose-file=*",
            "*--codex-matrix=*",
            "*--codex-evidence-dir=*",
            "*--codex-env-file=*",
            "*--codex-keep-stack*",
            "*--codex-startup-timeout=*",
            "*--codex-request-timeout=*",
            "*codex_mode (string)*",
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--codex-mode=bogus"], "*--codex-mode: 'bogus' is not a mode; use mocked or live*"),
        (["--codex-base-url=ftp://x"], "*--codex-base-url: 'ftp://x' is not an http(s) URL*"),
        (["--codex-base-url=http://127.0.0.1:1/api"], "*--codex-base-url: * has a path*"),
        (["--codex-request-timeout=soon"], "*--codex-request-timeout: 'soon' is not a number*"),
        (["--codex-startup-timeout=0"], "*--codex-startup-timeout: '0' is out of range*"),
        (
            ["--codex-base-url=http://127.0.0.1:1", "--codex-compose-file=x.yaml"],
            "*--codex-base-url and --codex-compose-file exclude each other*",
        ),
        (["--codex-compose-file=missing.yaml"], "*--codex-compose-file: * does not exist*"),
        (["--codex-mode=mocked", "--codex-matrix=nowhere"], "*--codex-matrix: * does not exist*"),
    ],
)
def test_bad_values_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    result.stderr.no_fnmatch_line("*Traceback*")


def test_defaults(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SHOW_SETTINGS)
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*MODE=mocked", "BASE=None", "TIMEOUT=60.0", "EVIDENCE=evidence"])


def test_ini_beats_default_and_command_line_beats_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("""
        [pytest]
        codex_mode = live
        codex_base_url = http://127.0.0.1:9
        codex_request_timeout = 7
        codex_evidence_dir = out/bundles
        codex_matrix = .
    """)
    pytester.makepyfile(SHOW_SETTINGS)
    pytester.path.joinpath(".env.live").write_text("OPENAI_API_KEY=sk-canary-options\n")
    from_ini = pytester.runpytest("-s")
    from_ini.assert_outcomes(passed=1)
    from_ini.stdout.fnmatch_lines(
        ["*MODE=live", "BASE=http://127.0.0.1:9", "TIMEOUT=7.0", "EVIDENCE=bundles"]
    )
    from_cli = pytester.runpytest(
        "-s",
        "--codex-request-timeout=3",
        "--codex-base-url=http://127.0.0.1:10",
        "-p",
        "no:cacheprovider",
    )
    from_cli.assert_outcomes(passed=1)
    from_cli.stdout.fnmatch_lines(["*MODE=live", "BASE=http://127.0.0.1:10", "TIMEOUT=3.0"])


def test_live_mode_needs_an_env_file_with_a_key(pytester: pytest.Pytester) -> None:
    missing = pytester.runpytest("--codex-mode=live", "--codex-matrix=.")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(
        [
            "ERROR: --codex-env-file: *.env.live' does not exist; "
            "copy .env.live.example to .env.live*"
        ]
    )
    pytester.path.joinpath(".env.live").write_text("OPENAI_ORG_ID=org-1\n")
    keyless = pytester.runpytest("--codex-mode=live", "--codex-matrix=.")
    assert keyless.ret == pytest.ExitCode.USAGE_ERROR
    keyless.stderr.fnmatch_lines(["ERROR: --codex-env-file: * sets no OPENAI_API_KEY*"])


def test_an_ini_file_given_with_c_elsewhere_warns_of_nothing(pytester: pytest.Pytester) -> None:
    """`pytest -c other/pytest.ini`: pytest takes other/ as its rootdir, as asked; that is
    not an option value taken for a path, so no "write option values with '='" warning."""
    pytester.mkdir("other")
    pytester.path.joinpath("other", "pytest.ini").write_text(
        "[pytest]\ncodex_request_timeout = 9\n"
    )
    pytester.makepyfile(SHOW_SETTINGS)
    result = pytester.runpytest_subprocess(
        "-c",
        "other/pytest.ini",
        "-s",
        "-p",
        "no:cacheprovider",
        "test_an_ini_file_given_with_c_elsewhere_warns_of_nothing.py",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*TIMEOUT=9.0"])
    result.stdout.no_fnmatch_line("*option values*")
    result.stdout.no_fnmatch_line("*as the rootdir*")
