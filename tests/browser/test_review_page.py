"""The review page in a real browser (headless Chromium over file://): filters, expanding a
case, search, and hostile content shown as text, never run. Each test keeps a screenshot
in its tmp_path; CODEX_DOCS_SCREENSHOT=1 also refreshes docs/images/review-page.png."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select

from pytest_codex.review import page as review
from tests.browser.conftest import WINDOW
from tests.conftest import REPO
from tests.harness.bundle_samples import make_bundle

DOCS_SCREENSHOT = REPO / "docs" / "images" / "review-page.png"


def open_page(browser: webdriver.Chrome, bundle: Path) -> None:
    browser.get((bundle / review.INDEX).as_uri())
    assert browser.find_element(By.ID, "verdict").is_displayed()


def shown_cases(browser: webdriver.Chrome) -> list[WebElement]:
    return [
        case
        for case in browser.find_elements(By.CSS_SELECTOR, "details.case")
        if case.is_displayed()
    ]


def case_named(browser: webdriver.Chrome, name: str) -> WebElement:
    for case in browser.find_elements(By.CSS_SELECTOR, "details.case"):
        if case.find_element(By.CSS_SELECTOR, "summary .name").text == name:
            return case
    raise AssertionError(f"no case named {name!r} on the page")


def reset_filters(browser: webdriver.Chrome) -> None:
    for name in ("outcome", "matrix", "family"):
        Select(browser.find_element(By.ID, f"filter-{name}")).select_by_value("all")
    browser.find_element(By.ID, "filter-search").clear()


@pytest.fixture
def sample_bundle(tmp_path: Path) -> Path:
    bundle = make_bundle(tmp_path / "evidence", mode="live")
    review.write_review(bundle)
    return bundle


def test_failures_filter_shows_only_failing_cases_of_a_real_run(
    browser: webdriver.Chrome, real_bundle: Path, tmp_path: Path
) -> None:
    open_page(browser, real_bundle)
    verdict = browser.find_element(By.ID, "verdict").text
    assert verdict.startswith("FAILED, ")
    assert "1 failed" in verdict
    everything = shown_cases(browser)
    assert len(everything) >= 55
    Select(browser.find_element(By.ID, "filter-outcome")).select_by_value("failures")
    failing = shown_cases(browser)
    assert [case.get_attribute("data-outcome") for case in failing] == ["failed"]
    assert failing[0].find_element(By.CSS_SELECTOR, "summary .name").text == "expects-teapot"
    count = browser.find_element(By.ID, "filter-count").text
    assert count == f"1 of {len(everything)} cases shown"
    browser.save_screenshot(str(tmp_path / "failures.png"))


def test_a_case_expands_to_its_raw_request_line(
    browser: webdriver.Chrome, real_bundle: Path, tmp_path: Path
) -> None:
    open_page(browser, real_bundle)
    case = case_named(browser, "dot-dot-1")
    line = case.find_element(By.CSS_SELECTOR, "pre.request-line")
    assert not line.is_displayed()  # collapsed until opened
    case.find_element(By.TAG_NAME, "summary").click()
    assert line.is_displayed()
    assert line.text.startswith("GET /api/v1/")
    assert line.text.endswith("/files/../OUTSIDE-CANARY.txt HTTP/1.1")
    body = case.find_element(By.CSS_SELECTOR, "pre.response-body").text
    assert '"detail"' in body  # the orchestrator's refusal, not the outside file
    browser.save_screenshot(str(tmp_path / "expanded.png"))


def test_search_finds_a_traversal_payload(
    browser: webdriver.Chrome, real_bundle: Path, tmp_path: Path
) -> None:
    open_page(browser, real_bundle)
    reset_filters(browser)
    browser.find_element(By.ID, "filter-search").send_keys("%2e%2e%2fOUTSIDE")
    names = [c.find_element(By.CSS_SELECTOR, "summary .name").text for c in shown_cases(browser)]
    assert names == ["encoded-2"]
    browser.find_element(By.ID, "filter-search").clear()
    Select(browser.find_element(By.ID, "filter-family")).select_by_value("encoded")
    shown = shown_cases(browser)
    assert shown
    assert {c.get_attribute("data-family") for c in shown} == {"encoded"}
    browser.save_screenshot(str(tmp_path / "search.png"))


def test_matrix_filter_and_failure_link_open_the_case(
    browser: webdriver.Chrome, sample_bundle: Path, tmp_path: Path
) -> None:
    open_page(browser, sample_bundle)
    Select(browser.find_element(By.ID, "filter-matrix")).select_by_value("traversal.yaml")
    assert {c.get_attribute("data-matrix") for c in shown_cases(browser)} == {"traversal.yaml"}
    reset_filters(browser)
    browser.find_element(By.LINK_TEXT, "wrong.yaml::expects-teapot").click()
    case = case_named(browser, "expects-teapot")
    assert case.get_attribute("open") is not None
    cells = [td.text for td in case.find_elements(By.CSS_SELECTOR, "table.diff td")]
    assert cells == ["status", "418", "200"]
    browser.save_screenshot(str(tmp_path / "failure-link.png"))


def test_a_hostile_response_body_is_shown_as_text_and_never_run(
    browser: webdriver.Chrome, sample_bundle: Path, tmp_path: Path
) -> None:
    open_page(browser, sample_bundle)
    case = case_named(browser, "read-hostile-file")
    case.find_element(By.TAG_NAME, "summary").click()
    body = case.find_element(By.CSS_SELECTOR, "pre.response-body")
    assert "<script>document.title='PWNED';window.codexPwned=1;</script>" in body.text
    assert '<img src=x onerror="window.codexPwned=2">' in body.text
    assert body.find_elements(By.TAG_NAME, "script") == []
    assert body.find_elements(By.TAG_NAME, "img") == []
    assert browser.execute_script("return window.codexPwned === undefined") is True
    assert "PWNED" not in browser.title
    browser.save_screenshot(str(tmp_path / "hostile.png"))


def test_live_sections_and_the_latency_chart_render(
    browser: webdriver.Chrome, sample_bundle: Path, tmp_path: Path
) -> None:
    open_page(browser, sample_bundle)
    bars = browser.find_elements(By.CSS_SELECTOR, "#latency-chart rect")
    assert len(bars) == 4  # p50 and p99 of create and read
    widths = [float(bar.get_attribute("width") or 0) for bar in bars]
    assert widths[1] == max(widths)  # create p99 is the slowest figure
    live = browser.find_element(By.ID, "live").find_element(By.XPATH, "..").text
    for text in ("OPENAI_API_KEY", "present", "/v1/responses", "Rollback", "Mocked vs live"):
        assert text in live
    browser.save_screenshot(str(tmp_path / "live.png"))


def test_screenshot_for_the_docs(
    browser: webdriver.Chrome, real_bundle: Path, tmp_path: Path
) -> None:
    """The page of a real run with one failure, its failing case open."""
    open_page(browser, real_bundle)
    browser.set_window_size(1280, 1400)
    case_named(browser, "expects-teapot").find_element(By.TAG_NAME, "summary").click()
    shot = tmp_path / "review-page.png"
    try:
        browser.save_screenshot(str(shot))
    finally:
        browser.set_window_size(*WINDOW)
    assert shot.stat().st_size > 10_000
    if os.environ.get("CODEX_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        DOCS_SCREENSHOT.write_bytes(shot.read_bytes())


def test_a_family_in_the_traversal_table_filters_the_cases(
    browser: webdriver.Chrome, real_bundle: Path, tmp_path: Path
) -> None:
    open_page(browser, real_bundle)
    browser.find_element(By.CSS_SELECTOR, 'a[data-family-filter="encoded"]').click()
    shown = shown_cases(browser)
    assert shown
    assert {c.get_attribute("data-family") for c in shown} == {"encoded"}
    family = Select(browser.find_element(By.ID, "filter-family"))
    assert family.first_selected_option.get_attribute("value") == "encoded"
    browser.save_screenshot(str(tmp_path / "family.png"))


def test_a_case_shows_the_values_it_saved(
    browser: webdriver.Chrome, real_bundle: Path, tmp_path: Path
) -> None:
    open_page(browser, real_bundle)
    reset_filters(browser)
    case = case_named(browser, "create-project")
    case.find_element(By.TAG_NAME, "summary").click()
    assert "Saved values" in case.text
    [cell] = [
        row.find_element(By.TAG_NAME, "td")
        for row in case.find_elements(By.CSS_SELECTOR, "tr")
        if row.find_element(By.TAG_NAME, "th").text == "project_id"
    ]
    assert len(cell.text) == 32
    browser.save_screenshot(str(tmp_path / "saved.png"))


def test_a_long_target_stays_in_its_column(browser: webdriver.Chrome, tmp_path: Path) -> None:
    """A compose run's target lists long file paths: the table wraps them inside its own
    grid column instead of running over the timings beside it."""
    bundle = make_bundle(tmp_path / "evidence")
    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    deep = "/home/ci/builds/" + "/".join(["a-rather-long-folder-name"] * 8)
    manifest["target"] = {
        "compose_files": [f"{deep}/compose.yaml", f"{deep}/compose.override.yaml"],
        "project": "pytest-codex-c132b7-24213-abd1bf",
        "base_url": "http://127.0.0.1:40123",
    }
    manifest["timings_s"] = {"stack_start": 1.2, "cases": 3.4, "session": 5.6}
    manifest_path.write_text(json.dumps(manifest))
    review.write_review(bundle)
    open_page(browser, bundle)
    blocks = {
        block.find_element(By.TAG_NAME, "h3").text: block
        for block in browser.find_elements(By.CSS_SELECTOR, "#run + .grid > div")
    }
    target, timings = blocks["Target"], blocks["Timings"]
    table_right = browser.execute_script(
        "return arguments[0].querySelector('table').getBoundingClientRect().right;", target
    )
    column_right = browser.execute_script(
        "return arguments[0].getBoundingClientRect().right;", target
    )
    timings_left = browser.execute_script(
        "return arguments[0].getBoundingClientRect().left;", timings
    )
    assert table_right <= column_right + 1
    assert table_right <= timings_left or timings.location["y"] > target.location["y"]
