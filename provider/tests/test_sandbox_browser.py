"""The sandbox game page in a real browser: Debian's Chromium, headless, driven by Playwright.

Each round is played by clicking; the page debits through the wallet API, the Celery worker
delivers the win, and the page's polling must show the balance the wallet ends up with."""

import io
import os
import shutil
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from playwright.sync_api import Page, expect, sync_playwright

from ledger.reconciliation import ledger_reconcile
from provider.models import GameRound, OutboundTransaction
from provider.tests.conftest import ROOT, wait_for
from wallet.models import Wallet

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# Debian's Chromium, never a browser Playwright downloads.
CHROMIUM = Path("/usr/bin/chromium")
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
README_SCREENSHOT = ROOT / "docs" / "img" / "sandbox.png"
SETTLE_MS = 30_000  # the page polls the wallet; the worker delivers the credit


def launch(live_server, game_id):
    r = requests.post(
        f"{live_server.url}/api/v1/sessions",
        json={"player_id": "p_demo_1", "game_id": game_id, "currency": "EUR"},
        headers={"Authorization": "Token sandbox-operator-token"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return r.json()["launch_url"]


def play(page: Page, button: str, rounds: int) -> int:
    """Click `button` `rounds` times, each time waiting for the round's row and the settled balance."""
    expected = int(page.locator("#balance").get_attribute("data-minor"))
    for played in range(1, rounds + 1):
        with page.expect_response(lambda r: r.url.endswith("/sandbox/api/bet")) as answer:
            page.click(button)
        assert answer.value.ok, answer.value.text()
        result = answer.value.json()
        assert result["balance_after_bet"] == expected - result["stake"]
        expected = result["expected_balance"]
        rows = page.locator("#rounds tr")
        expect(rows).to_have_count(played)
        expect(rows.first.locator("td").first).to_have_text(result["round_id"][:12])
        expect(page.locator("#balance")).to_have_attribute("data-minor", str(expected), timeout=SETTLE_MS)
        expect(page.locator("#message")).not_to_have_class("error")
    return expected


def open_game(page: Page, url: str, game: str) -> None:
    page.goto(url)
    expect(page.locator("#balance")).not_to_have_attribute("data-minor", "", timeout=SETTLE_MS)
    expect(page.locator("#currency")).to_have_text("EUR")
    expect(page.locator(f"#{game}")).to_be_visible()
    expect(page.locator("#slot" if game == "dice" else "#dice")).to_be_hidden()


def test_play_dice_and_slot_in_chromium(live_server, settings, worker, tmp_path):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's Chromium with `apt-get install chromium`.")
    settings.PUBLIC_BASE_URL = live_server.url
    call_command("seed_sandbox", stdout=io.StringIO())
    urls = {"dice": launch(live_server, "sandbox:dice"), "slot": launch(live_server, "sandbox:slot")}

    # No ORM calls inside the Playwright block: its sync API keeps an event loop on this thread.
    shown: dict[str, int] = {}
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 800, "height": 700})
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
            for game, button in [("dice", "#dice-roll"), ("slot", "#slot-spin")]:
                open_game(page, urls[game], game)
                shown[game] = play(page, button, rounds=3)
                expect(page.locator("#balance")).to_have_text(f"{shown[game] / 100:.2f}")
                page.screenshot(path=tmp_path / f"sandbox-{game}.png", full_page=True)
        finally:
            browser.close()
    assert not errors, f"the page reported errors: {errors}"

    if os.environ.get("UPDATE_SCREENSHOT"):  # refresh the README's picture on request only
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "sandbox-slot.png", README_SCREENSHOT)
    wait_for(
        lambda: not OutboundTransaction.objects.filter(kind="credit").exclude(status="succeeded").exists(),
        timeout=30,
        message="every credit delivered",
    )
    assert GameRound.objects.filter(status="settled").count() == 6
    assert Wallet.objects.get(player__player_id="p_demo_1", currency="EUR").balance == shown["slot"]
    assert ledger_reconcile().ok
