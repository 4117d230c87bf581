"""Browser tests of delegraph's triage page (headless Debian Chromium,
driven by Playwright). Run by scripts/ui-test, which serves a store with a
simulated fleet and tests/ui/xss-agent-trace.jsonl.

Each test prints its name and PASS or FAIL; the exit status is the number
of failures.
"""

import argparse
import json
import sys
import traceback
import urllib.parse
import urllib.request

from playwright.sync_api import sync_playwright

# The rule in tests/ui/rules that fires on the markup-carrying trace.
XSS_RULE = "3f6a2b1c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"
# What the trace carries (tests/ui/xss-agent-trace.jsonl).
ACTOR_PAYLOAD = '<img src=x onerror="window.__xss=1">support_agent'
PROMPT_PAYLOAD = "<script>window.__xss=2</script>Refund order 8812"
ARGS_PAYLOAD = '</code><svg onload=\\"window.__xss=3\\">8812'
HUMAN_PAYLOAD = '"><script>window.__xss=4</script>@example.com'

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def api(base, token, path, body=None):
    """Call the JSON API with a bearer token; (status, JSON)."""
    req = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Page:
    """One signed-in browser page that fails on any dialog or page error."""

    def __init__(self, browser, base, token):
        self.base = base
        self.context = browser.new_context(viewport={"width": 1600, "height": 1000})
        self.page = self.context.new_page()
        self.problems = []
        self.page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on(
            "console",
            lambda m: self.problems.append(f"console: {m.text}") if m.type == "error" else None,
        )
        self.page.goto(base + "/ui/findings")
        assert "/ui/login" in self.page.url, self.page.url
        self.page.fill("input[name=token]", token)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()
        assert "/ui/findings" in self.page.url, self.page.url

    def goto(self, path):
        resp = self.page.goto(self.base + path)
        self.page.wait_for_load_state()
        return resp

    def key(self, k):
        with self.page.expect_navigation():
            self.page.keyboard.press(k)

    def clean(self):
        assert not self.problems, self.problems
        assert self.page.evaluate("typeof window.__xss") == "undefined", "a payload ran"

    def close(self):
        self.context.close()


def selected_id(page):
    q = urllib.parse.parse_qs(urllib.parse.urlparse(page.page.url).query)
    return q.get("sel", [None])[0]


def test_triage_one_finding_end_to_end(browser, a):
    p = Page(browser, a.base, a.analyst)
    first_row = p.page.locator("tr.row").first.get_attribute("data-id")
    p.key("j")
    fid = selected_id(p)
    assert fid == first_row, (fid, first_row)
    p.page.screenshot(path=f"{a.shots}/queue.png")
    p.page.locator("#detail").screenshot(path=f"{a.shots}/detail.png")
    # a: acknowledge.
    p.key("a")
    assert p.page.locator("#detail").count() == 1, (p.page.url, p.page.content()[:500])
    assert p.page.locator("#detail .badges .st").inner_text() == "acknowledged"
    # c: choose a disposition; a false positive without a note is refused.
    p.page.keyboard.press("c")
    assert p.page.evaluate("document.activeElement.id") == "close-disposition"
    p.page.select_option("#close-disposition", "false_positive_logic")
    with p.page.expect_navigation():
        p.page.click("#act-close")
    assert "note" in p.page.inner_text("main"), p.page.inner_text("main")
    # The browser logs the refusal's 400; that one was asked for.
    p.problems = [x for x in p.problems if "status of 400" not in x]
    p.page.go_back()
    p.page.wait_for_load_state()
    p.page.select_option("#close-disposition", "false_positive_logic")
    p.page.fill("#close-note", "scheduled export job, not an attack")
    with p.page.expect_navigation():
        p.page.click("#act-close")
    assert p.page.locator("#detail .badges .st").inner_text() == "closed"
    activity = p.page.locator("ol.activity").inner_text()
    assert "acknowledge" in activity and "false_positive_logic" in activity, activity
    assert "scheduled export job" in activity, activity
    # s: suppress similar, with its count, closing what it matches.
    _, finding = api(a.base, a.analyst, f"/api/v1/findings/{fid}")
    p.key("s")
    assert "/suppress" in p.page.url
    # The closed finding itself no longer counts as unclosed.
    _, similar = api(a.base, a.analyst, f"/api/v1/findings/{fid}/similar")
    shown = int(p.page.inner_text("#matching"))
    assert shown == similar["unclosed_matching"], (shown, similar)
    p.page.fill("#suppress-reason", "export job runs nightly")
    p.page.check("#close-matching")
    p.page.fill("#suppress-form input[name=note]", "same export job")
    with p.page.expect_navigation():
        p.page.click("#act-suppress-submit")
    assert "/ui/findings" in p.page.url and "/suppress" not in p.page.url, p.page.url
    # The queue no longer shows any of them.
    detector = finding.get("rule_id") or finding["detector"]
    m = similar["matcher"]
    params = {"detector": detector, "status": "open,acknowledged"}
    if m.get("agent_id"):
        params["agent"] = m["agent_id"]
    if m.get("initiator"):
        params["human"] = m["initiator"]
    if m.get("credential_id"):
        params["credential"] = m["credential_id"]
    p.goto("/ui/findings?" + urllib.parse.urlencode(params))
    assert p.page.locator("tr.row").count() == 0, p.page.inner_text("main")
    _, marked = api(a.base, a.analyst, "/api/v1/findings?include_silenced=true&limit=1000&"
                    + urllib.parse.urlencode({"detector": detector}))
    mine = [f for f in marked["findings"] if f["finding_id"] == fid]
    assert mine and mine[0]["silenced"] and mine[0]["status"] == "closed", mine
    p.clean()
    p.close()


def test_markup_in_logs_renders_inert(browser, a):
    p = Page(browser, a.base, a.analyst)
    resp = p.goto("/ui/findings?" + urllib.parse.urlencode({"detector": XSS_RULE}))
    csp = resp.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp, csp
    rows = p.page.locator("tr.row")
    assert rows.count() >= 1, p.page.inner_text("main")
    with p.page.expect_navigation():
        rows.first.locator("td.summary a").click()
    detail = p.page.inner_text("#detail")
    for payload in (ACTOR_PAYLOAD, HUMAN_PAYLOAD, '<svg onload=\\"window.__xss=3\\">'):
        assert payload in detail, f"{payload!r} not shown as text"
    p.page.locator("#detail").screenshot(path=f"{a.shots}/detail-markup.png")
    # Nothing but the page's own script, and no handler attributes.
    injected = p.page.evaluate(
        "document.querySelectorAll('[onerror],[onload],script:not([src]),"
        "script[src]:not([src=\"/ui/static/ui.js\"])').length"
    )
    assert injected == 0, injected
    p.clean()
    # The instance timeline shows the arguments as text.
    with p.page.expect_navigation():
        p.page.click("text=Instance timeline")
    assert ARGS_PAYLOAD.replace("\\", "") in p.page.inner_text("main") or ARGS_PAYLOAD in p.page.inner_text("main")
    p.clean()
    # The raw record of the agent span shows the prompt as text.
    raws = p.page.locator("ol.events a", has_text="raw")
    found = False
    for i in range(raws.count()):
        href = raws.nth(i).get_attribute("href")
        p.goto(href)
        text = p.page.inner_text("main")
        if "window.__xss=2" in text:
            assert PROMPT_PAYLOAD in text.replace("\\", ""), text
            found = True
            break
        p.page.go_back()
    assert found, "no raw record with the prompt"
    p.clean()
    p.close()


def test_viewer_reads_but_cannot_triage_and_forms_need_the_session_token(browser, a):
    v = Page(browser, a.base, a.viewer)
    v.key("j")
    fid = selected_id(v)
    assert v.page.locator("#act-ack, #close-form").count() == 0
    r = v.context.request.post(f"{a.base}/ui/findings/{fid}/triage",
                               form={"csrf": "x", "status": "acknowledged"}, max_redirects=0)
    assert r.status == 403, r.status
    v.close()
    an = Page(browser, a.base, a.analyst)
    an.key("j")
    fid = selected_id(an)
    r = an.context.request.post(f"{a.base}/ui/findings/{fid}/triage",
                                form={"csrf": "not-the-session-token", "status": "acknowledged"},
                                max_redirects=0)
    assert r.status == 403, r.status
    r = an.context.request.post(f"{a.base}/ui/findings/{fid}/triage",
                                headers={"Origin": "https://evil.example"},
                                form={"csrf": an.page.locator("input[name=csrf]").first.get_attribute("value"),
                                      "status": "acknowledged"},
                                max_redirects=0)
    assert r.status == 403, r.status
    _, f = api(a.base, a.analyst, f"/api/v1/findings/{fid}")
    assert f["status"] == "open", f
    an.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--analyst", required=True)
    ap.add_argument("--viewer", required=True)
    ap.add_argument("--shots", required=True)
    a = ap.parse_args()
    tests = [v for k, v in sorted(globals().items()) if k.startswith("test_")]
    failures = 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for t in tests:
            try:
                t(browser, a)
                print(f"PASS {t.__name__}")
            except Exception:
                failures += 1
                print(f"FAIL {t.__name__}")
                traceback.print_exc()
        browser.close()
    print(f"ui-test: {len(tests) - failures} passed, {failures} failed; screenshots in {a.shots}")
    return failures


if __name__ == "__main__":
    sys.exit(main())
