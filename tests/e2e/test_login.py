"""Logging in to a real ``surge start`` node in Chromium: sent to the login page, refused a
wrong password, let in by the right one, acting with the session's CSRF token, refused an act
another site's page posts with the user's cookie, and logged out."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from playwright.sync_api import Page, expect

if TYPE_CHECKING:
    from conftest import SurgeServer

KEY = "signkey-prod-" + "e2" * 32
PASSWORD = "an e2e dashboard password"


def test_log_in_act_and_log_out_on_surge_start(
    page: Page, surge_server: Callable[..., SurgeServer], tmp_path: Path
) -> None:
    password_file = tmp_path / "dashboard-password"
    password_file.write_text(PASSWORD + "\n")
    server = surge_server(
        signing_key=KEY, extra_args=["--dashboard-password-file", str(password_file)]
    )

    page.goto(f"{server.url}/events/send")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fevents%2Fsend$"))
    page.get_by_label("Password").fill("not it")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("That password is not right.")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{server.url}/events/send")
    cookie = next(c for c in page.context.cookies() if c["name"] == "surge_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""  # no script can read the session

    page.fill("#event-body", '{"name": "e2e/logged.in", "data": {}}')
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status")).to_have_text("Sent 1 event.")

    # A script on the page posting without the session's token is refused ...
    status = page.evaluate(
        """async () => (await fetch("/events/send", {method: "POST",
            headers: {"content-type": "application/x-www-form-urlencoded"},
            body: "body=" + encodeURIComponent('{"name": "e2e/no.token"}')})).status"""
    )
    assert status == 403
    # ... and so is another site's page posting the same form (its cookie withheld by
    # SameSite, its Origin not this server's).
    forged = (
        f'<form method="post" action="{server.url}/events/send">'
        '<input name="body" value=\'{"name": "e2e/forged"}\'>'
        '<button type="submit">Win a prize</button></form>'
    )
    page.goto("about:blank")
    page.set_content(forged)
    page.get_by_role("button", name="Win a prize").click()
    expect(page.locator("body")).to_contain_text(
        re.compile("may not act here|log in to the dashboard first")
    )
    names = [e["name"] for e in server.request("GET", "/v1/events").json()["data"]]
    assert names == ["e2e/logged.in"]

    page.goto(f"{server.url}/runs")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{server.url}/login")
    page.goto(f"{server.url}/runs")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fruns$"))


def test_behind_a_trusted_https_proxy_the_session_cookie_is_secure(
    surge_server: Callable[..., SurgeServer], tmp_path: Path
) -> None:
    password_file = tmp_path / "dashboard-password"
    password_file.write_text(PASSWORD)
    server = surge_server(
        signing_key=KEY, extra_args=["--dashboard-password-file", str(password_file)]
    )
    form = {"password": PASSWORD, "next": "/runs"}
    plain = httpx.post(f"{server.url}/login", data=form)
    assert plain.status_code == 303 and "Secure" not in plain.headers["set-cookie"]
    # A proxy on 127.0.0.1 (the default --forwarded-allow-ips) that terminated TLS says so.
    proxied = httpx.post(f"{server.url}/login", data=form, headers={"X-Forwarded-Proto": "https"})
    assert proxied.status_code == 303 and "Secure" in proxied.headers["set-cookie"]
