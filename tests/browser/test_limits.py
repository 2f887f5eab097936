"""What the browser refuses before sending, what the server refuses after, and sessions."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import Page, Request, Route, expect

from tests.browser.conftest import SMALL_MAX_FILE_SIZE, SMALL_QUOTA, screenshot, sign_up
from tests.imagegen import TEXT_BYTES, make_image, make_tiff


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_client_side_rejections_use_the_server_config(
    page: Page, small_server: str, tmp_path: Path
) -> None:
    big = make_image("JPEG", (800, 600), noise=1.0)
    assert len(big) > SMALL_MAX_FILE_SIZE
    ok = make_image("JPEG", (160, 120))
    sign_up(page, small_server, "reject@example.com")
    expect(page.locator("#accepted-hint")).to_contain_text("up to 200 KiB each")
    uploads: list[Request] = []
    page.on("request", lambda r: uploads.append(r) if r.url.endswith("/upload") else None)

    page.locator("#file-input").set_input_files(
        [
            write(tmp_path, "photo.tiff", make_tiff()),
            write(tmp_path, "notes.txt", TEXT_BYTES),
            write(tmp_path, "big.jpg", big),
            write(tmp_path, "small.jpg", ok),
        ]
    )
    expect(page.locator("#rejections li")).to_have_text(
        [
            "photo.tiff: not a supported image type",
            "notes.txt: not a supported image type",
            "big.jpg: too large (max 200 KiB)",
        ]
    )
    rows = page.locator("#upload-queue .queue-row")
    expect(rows).to_have_count(1)  # only the good one is sent
    expect(rows.first).to_have_attribute("data-state", "done")
    expect(page.locator("#grid .card .card-name")).to_have_text(["small.jpg"])
    assert len(uploads) == 1
    screenshot(page, "rejections.png")


def test_quota_exceeded_says_so_and_suggests_deleting(
    page: Page, small_server: str, tmp_path: Path
) -> None:
    gif = make_image("GIF", (320, 200))
    assert SMALL_QUOTA < len(gif) < SMALL_MAX_FILE_SIZE  # allowed by size, not by quota
    sign_up(page, small_server, "quota@example.com")
    page.locator("#file-input").set_input_files([write(tmp_path, "huge.gif", gif)])
    row = page.locator("#upload-queue .queue-row")
    expect(row).to_have_attribute("data-state", "failed")
    expect(row.locator(".queue-status")).to_contain_text("quota exceeded")
    expect(row.locator(".queue-status")).to_contain_text("Delete some images")
    expect(page.locator("#grid .card")).to_have_count(0)
    expect(page.locator("#storage-text")).to_have_text("0 B of 48.8 KiB")


def test_rate_limit_shows_when_to_try_again(page: Page, limited_server: str) -> None:
    sign_up(page, limited_server, "busy@example.com")
    status = page.locator("#gallery-status")
    # Six requests a minute: each search is one gallery request, so a few of them hit the limit.
    for i in range(15):
        with page.expect_response(lambda r: "/api/images/user" in r.url) as answer:
            page.locator("#search").fill(f"q{i}")
            page.locator("#search").press("Enter")
        if answer.value.status == 429:
            break
    else:
        raise AssertionError("the gallery was never rate-limited")
    expect(status).to_have_text(re.compile(r"^Too many requests, try again in \d+ s$"))
    expect(page.locator("#toasts")).to_contain_text("Too many requests, try again in")


def test_session_token_and_its_end(page: Page, small_server: str) -> None:
    sign_up(page, small_server, "session@example.com")
    stored = page.evaluate(
        "() => [sessionStorage.getItem('pixvault.token'), localStorage.length, document.cookie]"
    )
    token, local_items, cookies = stored
    assert token and local_items == 0 and cookies == ""
    page.reload()  # the token survives a reload of the tab
    expect(page.locator("#app-view")).to_be_visible()

    # Revoked elsewhere: the next request answers 401 and the app goes back to sign-in.
    r = httpx.post(f"{small_server}/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    page.locator("#search").fill("anything")
    expect(page.locator("#auth-view")).to_be_visible()
    expect(page.locator("#auth-error")).to_have_text(
        "Your session has ended. Please sign in again."
    )
    assert page.evaluate("() => sessionStorage.getItem('pixvault.token')") is None

    # Sign in again, then out with the button.
    page.get_by_label("Email").fill("session@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#app-view")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('pixvault.token')") is None


def test_wrong_password_is_reported(page: Page, small_server: str) -> None:
    page.goto(small_server + "/")
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#auth-error")).to_have_text("Invalid email or password")
    expect(page.locator("#app-view")).to_be_hidden()


def test_keyboard_only_upload(page: Page, small_server: str, tmp_path: Path) -> None:
    # Listening early turns file-chooser interception on before the key press (else it races).
    page.on("filechooser", lambda _: None)
    sign_up(page, small_server, "keys@example.com")
    page.locator("#upload-tag-input").focus()
    page.keyboard.type("kbd,")  # a comma ends a tag, as Enter does
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("button", name="Remove tag kbd")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(page.locator("#dropzone")).to_be_focused()
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")  # the drop zone is a button that opens the picker
    chooser.value.set_files(write(tmp_path, "typed.png", make_image("PNG", (40, 30))))
    cards = page.locator("#grid .card")
    expect(cards).to_have_count(1)
    expect(cards.locator(".tag")).to_have_text(["kbd"])

    # Open with Enter, close with Esc, focus comes back.
    cards.first.locator(".thumb").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog", name="typed.png")).to_be_visible()
    page.keyboard.press("Escape")
    expect(cards.first.locator(".thumb")).to_be_focused()


def test_tag_rules_come_from_the_server_config(page: Page, small_server: str) -> None:
    """The tag editor applies /api/config's tagRules: served rules of 2 tags of 5 characters."""

    def smaller_rules(route: Route) -> None:
        body = route.fetch().json()
        assert body["tagRules"] == {"maxTags": 20, "maxLength": 50, "separator": ","}
        body["tagRules"].update(maxTags=2, maxLength=5)
        route.fulfill(json=body)

    page.route("**/api/config", smaller_rules)
    sign_up(page, small_server, "tagrules@example.com")
    tag_input = page.locator("#upload-tag-input")
    expect(tag_input).to_have_attribute("maxlength", "5")
    tag_input.focus()
    page.keyboard.type("One, two,three,")  # the separator ends a tag, as Enter does
    expect(page.locator("#upload-tags .chip")).to_have_text(["one×", "two×"])
    expect(page.locator("#upload-tags .chip-hint")).to_have_text("At most 2 tags")
    screenshot(page, "tag-rules.png")
