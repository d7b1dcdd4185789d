"""The v3 review page (``links.self_html``) in a real headless Chromium: the user signs in through
the form, the page shows the draft, and its button submits it to the chosen community (curated:
waits for the curator; open: published)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import requests

from ecasrepro.sandbox import SandboxServer
from ecasrepro.sandbox.seed import ECAS_COMMUNITY_ID, REVIEW_COMMUNITY_ID

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not shutil.which("chromium"),
        reason="Debian's chromium is not installed (make browser)",
    ),
]


def test_v3_review_page_submits_to_the_chosen_community(sandbox_v3: SandboxServer) -> None:
    from playwright.sync_api import sync_playwright

    headers = {"Authorization": f"Bearer {sandbox_v3.token}"}
    api = f"{sandbox_v3.url}/api/records"
    body = {
        "metadata": {
            "title": "Sea surface temperature anomaly 1981-2010",
            "creators": [
                {
                    "person_or_org": {
                        "type": "personal",
                        "family_name": "Bendoukha",
                        "given_name": "Sofiane",
                    }
                }
            ],
            "resource_types": [{"id": "software-computationalnotebook"}],
            "publication_date": "2025-11-26",
            "related_identifiers": [
                {
                    "identifier": "21.14100/dfb02365",
                    "scheme": "handle",
                    "relation_type": {"id": "isderivedfrom"},
                }
            ],
        },
        "files": {"enabled": True},
    }
    draft = requests.post(api, json=body, headers=headers).json()
    rid = draft["id"]
    content = b'{"cells": []}' * 50
    requests.post(f"{api}/{rid}/draft/files", json=[{"key": "analysis.ipynb"}], headers=headers)
    requests.put(
        f"{api}/{rid}/draft/files/analysis.ipynb/content",
        data=content,
        headers={**headers, "Content-Type": "application/octet-stream"},
    )
    requests.post(f"{api}/{rid}/draft/files/analysis.ipynb/commit", headers=headers)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            response = page.goto(draft["links"]["self_html"])
            assert response is not None and response.status == 403
            assert page.text_content("#title") == "Sign in"
            page.fill("#token", sandbox_v3.token)
            page.click("#signin-button")
            page.wait_for_selector("#state")
            assert page.url == draft["links"]["self_html"]
            assert page.text_content("#title") == "Sea surface temperature anomaly 1981-2010"
            assert page.text_content("#state") == "draft"
            assert "Bendoukha, Sofiane" in (page.text_content("#creators") or "")
            related = page.text_content("#related-identifiers") or ""
            assert "21.14100/dfb02365" in related and "Is derived from" in related
            row = page.locator("#files tr.file")
            assert row.locator("td.checksum").text_content() == (
                "md5:" + hashlib.md5(content).hexdigest()
            )
            page.select_option("#community", REVIEW_COMMUNITY_ID)
            page.click("#submit")
            page.wait_for_selector("#state.state-in_review")
            assert page.locator("#submit").count() == 0
            assert page.url == draft["links"]["self_html"]
            assert sandbox_v3.token not in page.content()

            token_link = browser.new_page()  # old links: signed in, then the token is dropped
            token_link.goto(f"{draft['links']['self_html']}?access_token={sandbox_v3.token}")
            assert token_link.url == draft["links"]["self_html"]
            assert token_link.text_content("#state") == "in_review"
            assert sandbox_v3.token not in token_link.content()
        finally:
            browser.close()

    review = requests.get(f"{api}/{rid}/draft/review", headers=headers).json()
    assert review["status"] == "submitted" and review["receiver"]["community"] == (
        REVIEW_COMMUNITY_ID
    )
    assert ECAS_COMMUNITY_ID not in review["receiver"].values()
    curator = {"Authorization": f"Bearer {sandbox_v3.users[2].token}"}
    assert set(review["links"]["actions"]) == {"cancel"}  # the author's view
    curator_view = requests.get(review["links"]["self"], headers=curator).json()
    r = requests.post(curator_view["links"]["actions"]["accept"], headers=curator)
    assert r.json()["status"] == "accepted"
    assert requests.get(f"{api}/{rid}").json()["status"] == "published"
