"""The dashboard in Chromium, after real traffic: what the page shows equals what the admin API answers.

One deployment as an operator runs it locally (``local_app``: client API and ``/admin`` in one
process, keys on) over a gateway built from a configuration document: Anthropic and OpenAI upstreams
are fake servers speaking their wire formats over HTTP; the default route fails over from Anthropic to
OpenAI; two 500s open Anthropic's breaker. Responses end after their state writes (as on Lambda), so
the admin views are current when a client has its answer. The page is driven by clicks: a project and a
key are made in it (the key's secret read from the one dialog that shows it, then used by the SDKs),
the breaker that opened under faults is reset by its button.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import pytest

from aimux_core.assembly import build_gateway, local_app
from aimux_core.config.validate import validate_config
from aimux_core.keys import KeyRing
from aimux_core.settings import Settings
from aimux_core.state import MemoryStore
from aimux_core.surfaces.admin_access import AdminAccess
from fakes import Fault, Reply, Usage
from fakes.anthropic_upstream import AnthropicUpstream
from fakes.openai_upstream import OpenAIUpstream
from support.browser import screenshot, wait_until
from support.server import serve

TOKEN = "dashboard-browser-token-0123456789"
ENV = {"TEST_ANTHROPIC_KEY": "sk-" + "ant-browser-upstream-0001", "TEST_OPENAI_KEY": "sk-browser-openai-upstream-0002"}
INTENT = {"x-aimux-admin": "test"}
PROMPT = [{"role": "user", "content": "hello dashboard"}]
QUIET = "?interval=3600"
BREAKER = """document.querySelector('article[data-provider="anthropic"] [data-field="breaker"]')
             .textContent.trim() === '{state}'"""  # no timer refresh while a test compares: it refreshes by clicking


def config(anthropic_up: AnthropicUpstream, openai_up: OpenAIUpstream) -> dict[str, Any]:
    fast = {"connect": 1.0, "first_byte": 2.0, "idle": 2.0, "total": 5.0}
    return {
        "providers": {
            "anthropic": {"preset": "anthropic", "base_url": anthropic_up.base_url, "api_key_env": "TEST_ANTHROPIC_KEY",
                          "timeouts": fast},
            "openai": {"preset": "openai", "base_url": openai_up.base_url, "api_key_env": "TEST_OPENAI_KEY",
                       "timeouts": fast},
        },
        "models": {
            "claude-sonnet-4-5": {"provider": "anthropic", "max_output": 4096, "price": {"input": 3.0, "output": 15.0}},
            "gpt-4.1": {"provider": "openai", "max_output": 4096, "price": {"input": 2.0, "output": 8.0}},
        },
        "routes": {"default": ["claude-sonnet-4-5", "gpt-4.1"]},
        "breaker": {"failure_threshold": 2, "failure_ratio": None, "cooldown": 600},
        "retry": {"max_attempts": 2, "backoff_base": 0.01, "backoff_max": 0.02, "deadline": 20},
    }  # fmt: skip


@dataclass
class Deployment:
    url: str
    token_url: str  # the same gateway, its admin routes behind AIMUX_ADMIN_TOKEN
    anthropic: AnthropicUpstream
    openai: OpenAIUpstream
    told_cost: float = 0.0  # the sum of x-aimux-cost-usd the clients were told

    def api(self, path: str, **params: Any) -> Any:
        answer = httpx.get(self.url + path, params=params, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def ask_anthropic(self, key: str, *, stream: bool = False) -> str:
        client = anthropic.Anthropic(base_url=self.url, api_key=key, max_retries=0)
        if stream:
            with client.messages.with_streaming_response.create(
                model="claude-sonnet-4-5", max_tokens=32, messages=PROMPT, stream=True
            ) as response:
                response.read()
                return response.headers["x-aimux-provider"]
        raw = client.messages.with_raw_response.create(model="claude-sonnet-4-5", max_tokens=32, messages=PROMPT)
        self.told_cost += float(raw.headers["x-aimux-cost-usd"])
        return raw.headers["x-aimux-provider"]

    def ask_openai(self, key: str) -> None:
        client = openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0)
        raw = client.chat.completions.with_raw_response.create(model="gpt-4.1", messages=PROMPT)
        self.told_cost += float(raw.headers["x-aimux-cost-usd"])


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    with pytest.MonkeyPatch.context() as patch, AnthropicUpstream() as anthropic_up, OpenAIUpstream() as openai_up:
        patch.setenv("AIMUX_FINISH_WRITES_IN_REQUEST", "1")
        for name in ("AIMUX_TABLE", "AIMUX_ADMIN_TOKEN", "AIMUX_CORS_ORIGINS"):
            patch.delenv(name, raising=False)
        anthropic_up.default = Reply(text="from anthropic", usage=Usage(input_tokens=1200, output_tokens=300))
        openai_up.default = Reply(text="from openai", usage=Usage(input_tokens=800, output_tokens=200))
        store = MemoryStore()
        gateway = build_gateway(validate_config(config(anthropic_up, openai_up), "browser.yaml"),
                                            env=ENV, store=store)  # fmt: skip
        keys = KeyRing(store, cache_seconds=30)
        app = local_app(gateway, keys, admin_keys=keys, admin_access=AdminAccess(Settings()))
        guarded = local_app(gateway, keys, admin_keys=keys,
                                   admin_access=AdminAccess(Settings(admin_token=TOKEN)))  # fmt: skip
        with serve(app) as url, serve(guarded) as token_url:
            yield Deployment(url, token_url, anthropic_up, openai_up)


# ---------------------------------------------------------------------------------------------- helpers


def usd(value: float) -> str:
    """The page's money format (dom.js ``usd``): every digit the API gives, trimmed to at least cents."""
    whole, decimals = f"{abs(value):.6f}".split(".")
    return f"{'-' if value < 0 else ''}${int(whole):,}.{decimals.rstrip('0').ljust(2, '0')}"


def count(value: int) -> str:
    return f"{value:,}"


def refreshed(page: Any) -> None:
    """Click "Refresh now" and wait until that refresh has finished."""
    before = int(page.get_attribute("body", "data-refreshes") or 0)
    page.click("#refresh")
    wait_until(page, f"Number(document.body.dataset.refreshes || 0) > {before}")


def opened(page: Any, url: str) -> Any:
    page.goto(url + "/admin/" + QUIET)
    wait_until(page, "Number(document.body.dataset.refreshes || 0) >= 1")
    return page


def field(page: Any, scope: str, name: str) -> str:
    return str(page.locator(f'{scope} [data-field="{name}"]').first.inner_text()).strip()


# ---------------------------------------------------------------------------------------------- tests


def test_projects_and_keys_made_in_the_page_and_their_usage_after_traffic(page: Any, deployment: Deployment) -> None:
    opened(page, deployment.url)
    # A project, from its dialog.
    page.click("#project-new")
    dialog = page.locator("#project-dialog")
    dialog.get_by_label("Name").fill("web")
    dialog.get_by_label("Daily budget (USD)").fill("50")
    dialog.get_by_role("button", name="Save project").click()
    page.wait_for_selector('#projects-body tr[data-project="web"]')
    page.get_by_role("button", name="Edit project web").click()  # and its limits changed in place
    dialog.get_by_label("Requests per minute").fill("900")
    dialog.get_by_role("button", name="Save project").click()
    wait_until(
        page,
        """document.querySelector('#projects-body tr[data-project="web"]')
                         .textContent.includes('900 rpm')""",
    )
    assert [(p["rpm"], p["budget_daily_usd"]) for p in deployment.api("/admin/projects")["projects"]] == [(900, 50.0)]
    # A key in it: the secret is in the dialog once, and gone from the page when it closes.
    page.click("#key-new")
    dialog = page.locator("#key-dialog")
    dialog.get_by_label("Name").fill("ci")
    dialog.get_by_label("Project").select_option("web")
    dialog.get_by_label("Requests per minute").fill("600")
    dialog.get_by_role("button", name="Create key").click()
    secret = page.locator("#secret-value")
    secret.wait_for()
    plaintext = secret.input_value()
    assert re.fullmatch(r"amx-[A-Za-z0-9_-]{20,}", plaintext)
    page.click("#secret-done")
    assert page.locator("#secret-value").input_value() == ""
    assert plaintext not in page.content()
    keys = deployment.api("/admin/keys")["keys"]
    ci = next(k for k in keys if k["name"] == "ci")
    assert ci["project"] == "web" and ci["rpm"] == 600
    page.wait_for_selector(f'#keys-body tr[data-key="{ci["id"]}"]')
    assert page.locator(f'#keys-body tr[data-key="{ci["id"]}"] select[data-field="project"]').input_value() == "web"
    created = httpx.post(deployment.url + "/admin/keys", json={"name": "batch"}, timeout=10).json()

    # Real traffic: the page's key through both SDKs, a key without a project on the other provider.
    for _ in range(3):
        assert deployment.ask_anthropic(plaintext) == "anthropic"
    deployment.ask_anthropic(plaintext, stream=True)
    deployment.ask_openai(plaintext)
    for _ in range(2):
        deployment.ask_openai(created["api_key"])
    refreshed(page)

    # Totals and charts equal /admin/usage for the page's own period.
    start, end = page.get_attribute("#usage", "data-range").split("..")
    usage = deployment.api("/admin/usage", **{"from": start, "to": end, "group_by": ["day", "project"]})
    total = usage["total"]
    assert total["requests"] == 7
    for name in ("requests", "input_tokens", "output_tokens", "errors", "fallbacks"):
        assert field(page, "#usage-totals", name).endswith(count(total[name])), name
    assert field(page, "#usage-totals", "cost_usd").endswith(usd(total["cost_usd"]))
    buffered_cost = round(deployment.told_cost, 6)  # the streamed answer's cost is not in a header
    assert total["cost_usd"] > buffered_cost > 0
    drawn = _chart(page, "#spend-chart")
    expected = {(g["group"]["day"], g["group"]["project"]): g["cost_usd"] for g in usage["groups"] if g["cost_usd"]}
    assert drawn == pytest.approx(expected, abs=1e-9) and set(drawn) == {(end, "web"), (end, "-")}
    requests = _chart(page, "#requests-chart")
    assert requests == {(g["group"]["day"], g["group"]["project"]): g["requests"] for g in usage["groups"]}
    page.select_option("#usage-group", "model")
    page.wait_for_selector('#requests-chart .legend li[data-group="gpt-4.1"]')
    by_model = deployment.api("/admin/usage", **{"from": start, "to": end, "group_by": ["day", "model"]})
    assert _chart(page, "#requests-chart") == {(g["group"]["day"], g["group"]["model"]): g["requests"]
                                               for g in by_model["groups"]}  # fmt: skip

    # Top spenders: the keys, by spend, as /admin/usage?group_by=key says.
    by_key = deployment.api("/admin/usage", **{"from": start, "to": end, "group_by": "key"})["groups"]
    rows = page.locator("#spenders-body tbody tr")
    assert rows.count() == len(by_key) == 2
    for group in by_key:
        row = f'#spenders-body tr[data-key="{group["group"]["key"]}"]'
        assert field(page, row, "cost_usd") == usd(group["cost_usd"])
        assert field(page, row, "requests") == count(group["requests"])
    assert page.locator("#spenders-body tbody tr").first.get_attribute("data-key") == ci["id"]  # the bigger spender

    # The project's own spend, as /admin/projects says.
    (web,) = [p for p in deployment.api("/admin/projects")["projects"] if p["name"] == "web"]
    assert web["spend_today_usd"] > 0
    for name in ("spend_today_usd", "spend_month_usd", "spend_held_usd"):
        assert field(page, '#projects-body tr[data-project="web"]', name) == usd(web[name]), name
    assert field(page, '#projects-body tr[data-project="web"]', "keys") == "1"
    screenshot(page, "dashboard-usage")

    # Rotating shows the new secret once; the old one stops working; disabling and deleting take effect.
    row = page.locator(f'#keys-body tr[data-key="{ci["id"]}"]')
    row.get_by_role("button", name="Rotate key ci").click()
    page.click("#confirm-ok")
    page.locator("#secret-value").wait_for()
    rotated = page.locator("#secret-value").input_value()
    page.click("#secret-done")
    assert rotated.startswith("amx-") and rotated != plaintext
    with pytest.raises(anthropic.AuthenticationError):
        deployment.ask_anthropic(plaintext)
    # Moving a key to another project from its menu (PATCH /admin/keys/{id}), and back to none.
    page.get_by_label("Project of key batch").select_option("web")
    wait_until(page, "document.getElementById('status').textContent === 'Key batch moved to web'")
    assert deployment.api(f"/admin/keys/{created['id']}")["project"] == "web"
    page.get_by_label("Project of key batch").select_option("")
    wait_until(page, "document.getElementById('status').textContent === 'Key batch moved to no project'")
    assert deployment.api(f"/admin/keys/{created['id']}")["project"] is None
    page.locator(f'#keys-body tr[data-key="{created["id"]}"]').get_by_role("button", name="Disable key batch").click()
    page.wait_for_selector(f'#keys-body tr[data-key="{created["id"]}"] .badge.bad')
    assert deployment.api(f"/admin/keys/{created['id']}")["disabled"] is True
    page.locator(f'#keys-body tr[data-key="{created["id"]}"]').get_by_role("button", name="Delete key batch").click()
    page.click("#confirm-ok")
    page.wait_for_selector(f'#keys-body tr[data-key="{created["id"]}"]', state="detached")
    assert created["id"] not in {k["id"] for k in deployment.api("/admin/keys")["keys"]}

    # A project that still has keys: the API refuses (409), the page says why and offers to force it.
    page.get_by_role("button", name="Delete project web").click()
    page.click("#confirm-ok")
    wait_until(page, "document.getElementById('confirm-dialog').open && "
                     "document.getElementById('confirm-ok').textContent === 'Delete anyway'")  # fmt: skip
    assert "Delete it anyway" in page.inner_text("#confirm-text")
    page.click("#confirm-ok")
    page.wait_for_selector('#projects-body tr[data-project="web"]', state="detached")
    assert deployment.api("/admin/projects")["projects"] == []


def test_a_provider_going_circuit_open_shows_and_a_click_resets_it(page: Any, deployment: Deployment) -> None:
    key = httpx.post(deployment.url + "/admin/keys", json={"name": "ops"}, timeout=10).json()["api_key"]
    assert deployment.ask_anthropic(key) == "anthropic"
    # 500s (a 529 or 429 would cool the target down instead, and the breaker would not see the second)
    deployment.anthropic.enqueue(Fault.http(500, message="Internal error"), Fault.http(500, message="Internal error"))
    assert [deployment.ask_anthropic(key) for _ in range(2)] == ["openai", "openai"]  # failed over, twice
    assert deployment.ask_anthropic(key) == "openai"  # the circuit is open: anthropic is not tried

    opened(page, deployment.url)
    health = {p["provider"]: p for p in deployment.api("/admin/health", minutes=15)["providers"]}
    assert health["anthropic"]["state"] == "CIRCUIT_OPEN"
    card = 'article[data-provider="anthropic"]'
    assert field(page, card, "state") == "CIRCUIT_OPEN"
    assert field(page, card, "breaker") == health["anthropic"]["breaker"]["state"] == "open"
    assert field(page, card, "requests") == count(health["anthropic"]["requests"])
    assert field(page, card, "success_rate") == f"{health['anthropic']['success_rate'] * 100:.1f}%"
    opened_at = page.locator(f'{card} [data-field="opened_at"] time').get_attribute("datetime")
    assert opened_at == health["anthropic"]["breaker"]["opened_at"]
    last = page.locator(f'{card} [data-field="last_error"]').first.inner_text()
    (error,) = health["anthropic"]["last_errors"]
    assert error["kind"] in last and str(error["status"]) in last and error["status"] == 500
    assert field(page, 'article[data-provider="openai"]', "state") == health["openai"]["state"] == "HEALTHY"
    errors = deployment.api("/admin/errors", since="1h")["groups"]
    (failed,) = [g for g in errors if g["provider"] == "anthropic"]
    row = '#upstream-errors tr[data-provider="anthropic"]'
    assert field(page, row, "kind") == failed["kind"] == error["kind"]
    assert field(page, row, "status") == "500" and field(page, row, "count") == count(failed["count"]) == "2"
    screenshot(page, "dashboard-circuit-open")

    page.get_by_role("button", name="Reset breaker of anthropic").click()
    wait_until(page, BREAKER.format(state="closed"))
    assert "Breaker of anthropic: reset" in page.inner_text("#status")
    after = {p["provider"]: p for p in deployment.api("/admin/health")["providers"]}
    assert after["anthropic"]["breaker"]["state"] == "closed"
    assert field(page, card, "state") == after["anthropic"]["state"] != "CIRCUIT_OPEN"
    assert deployment.ask_anthropic(key) == "anthropic"  # served by it again

    # Opening by hand asks first, then holds it open; closing brings it back.
    page.get_by_role("button", name="Open breaker of anthropic").click()
    page.click("#confirm-ok")
    wait_until(page, BREAKER.format(state="open"))
    assert deployment.ask_anthropic(key) == "openai"
    page.get_by_role("button", name="Close breaker of anthropic").click()
    wait_until(page, BREAKER.format(state="closed"))


def test_it_refreshes_itself_and_rests_while_the_tab_is_hidden(page: Any, deployment: Deployment) -> None:
    page.goto(deployment.url + "/admin/?interval=2")
    wait_until(page, "Number(document.body.dataset.refreshes || 0) >= 2", timeout=15)
    page.evaluate("""() => {
        Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
        document.dispatchEvent(new Event("visibilitychange"));
    }""")
    page.wait_for_timeout(300)  # a refresh already running may finish
    resting = int(page.get_attribute("body", "data-refreshes"))
    page.wait_for_timeout(4500)  # two periods: nothing is asked while hidden
    assert int(page.get_attribute("body", "data-refreshes")) == resting
    page.evaluate("""() => {
        Object.defineProperty(document, "hidden", {configurable: true, get: () => false});
        document.dispatchEvent(new Event("visibilitychange"));
    }""")
    wait_until(page, f"Number(document.body.dataset.refreshes) > {resting}", timeout=3)  # at once


def test_with_an_admin_token_the_page_asks_for_it_and_keeps_it_in_the_tab(page: Any, deployment: Deployment) -> None:
    opened(page, deployment.token_url)
    assert "needs its admin token" in page.inner_text("#providers-body")
    assert page.locator("#token-box").get_attribute("open") is not None
    page.fill("#token", TOKEN)
    page.click("#token-form button[type=submit]")
    page.wait_for_selector('#providers-body article[data-provider="anthropic"]')
    assert page.evaluate("sessionStorage.getItem('aimux-admin-token')") == TOKEN
    assert page.evaluate("localStorage.length") == 0  # the token is not kept beyond the tab


def test_dark_theme(browser: Any, deployment: Deployment) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    try:
        page = opened(context.new_page(), deployment.url)
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(17, 19, 24)"  # the dark palette, from the system setting
        screenshot(page, "dashboard-dark")
        page.click("#theme")  # auto -> light
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(247, 247, 248)"
    finally:
        context.close()


def _chart(page: Any, figure: str) -> dict[tuple[str, str], float]:
    """What a chart draws: {(day, group): value} from its bars' segments."""
    drawn: dict[tuple[str, str], float] = {}
    for day, group, value in page.eval_on_selector_all(
        f"{figure} rect[data-day]", "rects => rects.map(r => [r.dataset.day, r.dataset.group, Number(r.dataset.value)])"
    ):
        drawn[(day, group)] = drawn.get((day, group), 0) + value
    return drawn


def test_every_control_is_named_for_assistive_technology(page: Any, deployment: Deployment) -> None:
    """Buttons have a name, form fields a label, charts a role and a title, ids are unique, and each
    section is a landmark with a heading (a screen reader's way around the page)."""
    opened(page, deployment.url)
    problems = page.evaluate("""() => {
        const found = [];
        for (const b of document.querySelectorAll("button"))
            if (!(b.getAttribute("aria-label") || b.textContent.trim())) found.push("unnamed button " + b.outerHTML);
        for (const f of document.querySelectorAll("input, select"))
            if (!(f.labels && f.labels.length) && !f.getAttribute("aria-label")) found.push("unlabelled " + f.name);
        for (const svg of document.querySelectorAll("svg"))
            if (svg.getAttribute("role") !== "img" || !svg.querySelector("title")) found.push("chart without title");
        const ids = [...document.querySelectorAll("[id]")].map((e) => e.id);
        for (const id of ids.filter((id, i) => ids.indexOf(id) !== i)) found.push("duplicate id " + id);
        for (const s of document.querySelectorAll("main section"))
            if (!s.getAttribute("aria-labelledby") || !document.getElementById(s.getAttribute("aria-labelledby")))
                found.push("section without a heading " + s.id);
        if (!document.querySelector("[role=status][aria-live=polite]")) found.push("no live region");
        return found;
    }""")
    assert problems == []
    assert page.locator("svg[role=img]").count() == 2 and page.locator("article[data-provider]").count() == 2
