"""Web mode in a real browser: Debian's headless Chromium driven by Playwright.

Never ``playwright install``: the browser is the system's /usr/bin/chromium
(scripts/test.sh installs the Debian package).
"""

import http.server
import json
import textwrap
import threading
from pathlib import Path

import pytest
from helpers import ARTIFACTS, wait_for
from web_client import Watched, free_port_block, port_of, refused, wait_history

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
WAIT_MS = 15000

CRASH = """
    GLOBAL_MARK = "global-mark"

    def outer(k):
        outer_local = k + 1
        return inner(k)

    def inner(n):
        secret = n * 2
        return 10 / (n - n)

    outer(21)
"""


@pytest.fixture
def browser(tmp_path):
    """A fresh Chromium profile per test."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium (scripts/test.sh does)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1280, "height": 800},
        )
        context.set_default_timeout(WAIT_MS)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def crashing(tmp_path, python, env, procs):
    def start(**extra) -> Watched:
        script = tmp_path / "prog.py"
        script.write_text(textwrap.dedent(CRASH))
        env.update(IPDB_DEBUG="1", IPDB_MODE="web", IPDB_WEB_PORT=str(free_port_block()), **extra)
        return Watched(procs.popen([python, str(script)], env))

    return start


def text_of(page, element_id: str) -> str:
    return page.eval_on_selector(f"#{element_id}", "e => e.textContent")


def wait_text(page, element_id: str, needle: str) -> None:
    page.wait_for_function(
        "([id, needle]) => document.getElementById(id).textContent.includes(needle)", arg=[element_id, needle], timeout=WAIT_MS
    )


def command(page, line: str) -> None:
    page.fill("#stdin", line)
    page.press("#stdin", "Enter")


def test_debug_in_the_page_then_quit(browser, crashing):
    prog = crashing()
    url = prog.url()
    port = port_of(url)
    page = browser.new_page()
    assert page.goto(url).status == 200
    wait_text(page, "locals", "secret = 42")
    assert "n = 21" in text_of(page, "locals")
    assert "GLOBAL_MARK = 'global-mark'" in text_of(page, "globals")
    assert text_of(page, "filename") == "prog.py"

    command(page, "p secret * 100")
    wait_text(page, "stdout", "4200")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web_session.png"), full_page=True)

    page.click("#up_btn")  # the stack is navigable from the page's own buttons
    wait_text(page, "locals", "outer_local = 22")
    page.click("#down_btn")
    wait_text(page, "locals", "secret = 42")

    page.reload()  # a reload reconnects to the same session
    wait_text(page, "locals", "secret = 42")
    command(page, "p n + 1000")
    wait_text(page, "stdout", "1021")

    command(page, "q")
    assert prog.finish() == 1
    assert refused(port)
    assert "ZeroDivisionError: division by zero" in prog.stderr


def test_closing_the_tab_leaves_the_session_for_a_new_one(browser, crashing):
    prog = crashing()
    url = prog.url()
    page = browser.new_page()
    page.goto(url)
    wait_text(page, "locals", "secret = 42")
    page.close()
    again = browser.new_page()
    again.goto(url)
    wait_text(again, "locals", "secret = 42")
    command(again, "p secret")
    wait_history(port_of(url), "(Pdb) p secret\n42\n")
    command(again, "c")
    assert prog.finish() == 1


class _EvilPage(http.server.BaseHTTPRequestHandler):
    """A page of another origin that tries to drive the debugger over its WebSocket."""

    target = 0

    def do_GET(self):
        body = textwrap.dedent(f"""
            <script>
            window.result = "pending";
            const ws = new WebSocket("ws://127.0.0.1:{self.target}/ws");
            ws.onopen = () => {{ ws.send("p secret\\n"); window.result = "opened"; }};
            ws.onerror = () => {{ if (window.result === "pending") window.result = "refused"; }};
            </script>
        """).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_other_pages_cannot_drive_or_read_the_debugger(browser, crashing):
    prog = crashing()
    port = port_of(prog.url())
    evil_port = free_port_block(1)
    handler = type("Evil", (_EvilPage,), {"target": port})
    server = http.server.HTTPServer(("127.0.0.1", evil_port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page = browser.new_page()
        # Chromium resolves *.localhost to loopback itself: a foreign origin without DNS.
        page.goto(f"http://evil.localhost:{evil_port}/")
        page.wait_for_function("window.result !== 'pending'", timeout=WAIT_MS)
        assert page.evaluate("window.result") == "refused"
        # A DNS-rebinding page: our address under a foreign name.
        response = page.goto(f"http://rebind.localhost:{port}/frame-data")
        assert response.status == 403 and "secret" not in page.content()
    finally:
        server.shutdown()
        server.server_close()
    history = wait_history(port, "ZeroDivisionError")
    assert "p secret" not in history
    line = prog.wait_err("refused a request")
    assert "evil.localhost" in line or "rebind.localhost" in line
    page = browser.new_page()
    page.goto(prog.url())
    command(page, "q")
    assert prog.finish() == 1


def test_token_url_becomes_a_cookie_that_the_page_uses(browser, crashing):
    prog = crashing(IPDB_WEB_TOKEN="1")
    url = prog.url()
    port = port_of(url)
    base = url.split("?", 1)[0]

    stranger = browser.new_page()
    response = stranger.goto(base)
    assert response.status == 403 and "no valid token" in stranger.content()

    page = browser.new_page()
    page.goto(url)
    assert page.url == base  # the token left the address bar for a cookie
    wait_text(page, "locals", "secret = 42")
    command(page, "p secret")
    wait_text(page, "stdout", "42\n")
    cookies = [c for c in browser.cookies() if c["name"] == f"pydebug_hook_{port}"]
    assert len(cookies) == 1 and cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # HttpOnly: the page's scripts cannot read it
    command(page, "q")
    assert prog.finish() == 1
    wait_for(lambda: refused(port), 5, "the port closed")
    assert json.dumps(prog.stderr).count(url.split("=", 1)[1]) == 1
