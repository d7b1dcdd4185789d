"""The review page in a real headless Chromium (Debian's, driven by Playwright): the user signs in
through the form (session cookie), the page shows the draft, and its button publishes it."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import requests

from ecasrepro.sandbox import ECAS_BLOCK_SCHEMA_ID, ECAS_COMMUNITY_ID, SandboxServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not shutil.which("chromium"),
    reason="Debian's chromium is not installed (make browser)",
)
def test_review_page_shows_draft_and_submit_publishes(sandbox: SandboxServer) -> None:
    from playwright.sync_api import sync_playwright

    headers = {"Authorization": f"Bearer {sandbox.token}"}
    draft = requests.post(
        f"{sandbox.url}/api/records/",
        headers=headers,
        json={
            "titles": [{"title": "Sea surface temperature anomaly 1981-2010"}],
            "creators": [{"creator_name": "Bendoukha, Sofiane"}],
            "community": ECAS_COMMUNITY_ID,
            "open_access": True,
            "related_identifiers": [
                {
                    "related_identifier": "21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2",
                    "related_identifier_type": "Handle",
                    "relation_type": "IsDerivedFrom",
                }
            ],
            "community_specific": {
                ECAS_BLOCK_SCHEMA_ID: {
                    "analytics_service_instance": "ECAS-DKRZ",
                    "notebook_kernel": "python3",
                }
            },
        },
    ).json()
    content = b'{"cells": []}' * 50
    requests.put(
        draft["links"]["files"] + "/notebook/analysis.ipynb", data=content, headers=headers
    )
    page_url = draft["links"]["self_html"]

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            response = page.goto(page_url)
            assert response is not None and response.status == 401
            assert page.text_content("#title") == "Sign in"
            assert page.locator("#state").count() == 0  # nothing of the draft before sign-in
            page.fill("#token", "not-a-token")
            page.click("#signin-button")
            assert "Unknown token" in (page.text_content("#error") or "")
            page.fill("#token", sandbox.token)
            page.click("#signin-button")
            page.wait_for_selector("#state")
            assert page.url == page_url
            assert page.text_content("#title") == "Sea surface temperature anomaly 1981-2010"
            assert page.text_content("#state") == "draft"
            assert "Bendoukha, Sofiane" in (page.text_content("#creators") or "")
            related = page.text_content("#related-identifiers") or ""
            assert (
                "21.14100/dfb02365-a99a-3f1c-82c8-4723b63aafc2" in related
                and "IsDerivedFrom" in related
            )
            fields = page.text_content("#community-fields") or ""
            assert "Analytics service instance" in fields and "ECAS-DKRZ" in fields
            row = page.locator("#files tr.file")
            assert row.count() == 1
            assert row.locator("td.size").text_content() == str(len(content))
            assert (
                row.locator("td.checksum").text_content()
                == "md5:" + hashlib.md5(content).hexdigest()
            )
            assert "notebook/analysis.ipynb" in (row.text_content() or "")

            page.click("#submit")
            page.wait_for_selector("#state.state-published")
            assert page.text_content("#epic-pid") == f"http://hdl.handle.net/0000/{draft['id']}"
            assert page.locator("#submit").count() == 0
            assert sandbox.token not in page.url and sandbox.token not in page.content()

            anonymous = browser.new_page()
            anonymous.goto(draft["links"]["self_html"])
            assert anonymous.text_content("#state") == "published"  # now public
        finally:
            browser.close()

    record = requests.get(f"{sandbox.url}/api/records/{draft['id']}").json()
    assert record["metadata"]["publication_state"] == "published"
    assert [f["key"] for f in record["files"]] == ["notebook/analysis.ipynb"]


@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not shutil.which("chromium"),
    reason="Debian's chromium is not installed (make browser)",
)
def test_token_link_signs_in_and_leaves_no_token_in_url_or_page(sandbox: SandboxServer) -> None:
    """The old ``?access_token=`` links still work, but the token is gone from the address bar and
    the HTML at once; the cookie is an opaque HttpOnly, SameSite=Strict session id."""
    from playwright.sync_api import sync_playwright

    headers = {"Authorization": f"Bearer {sandbox.token}"}
    draft = requests.post(
        f"{sandbox.url}/api/records/",
        headers=headers,
        json={
            "titles": [{"title": "Token hygiene"}],
            "creators": [{"creator_name": "Doe, Jane"}],
            "community": ECAS_COMMUNITY_ID,
            "open_access": True,
        },
    ).json()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{draft['links']['self_html']}?access_token={sandbox.token}")
            assert page.url == draft["links"]["self_html"]
            assert page.text_content("#title") == "Token hygiene"
            html = page.content()
            assert sandbox.token not in html and 'name="csrf_token"' in html
            (cookie,) = context.cookies()
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            assert sandbox.token not in cookie["value"] and len(cookie["value"]) >= 32
            assert page.evaluate("document.cookie") == ""  # HttpOnly: invisible to scripts
            page.click("#submit")
            page.wait_for_selector("#state.state-published")
            assert page.url == draft["links"]["self_html"]
            assert sandbox.token not in page.content()
        finally:
            browser.close()
