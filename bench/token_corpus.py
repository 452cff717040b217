"""The calibration corpus for the token estimator (used by bench/calibrate_tokens.py).

Built from text every checkout has: samples written for aimux below, the Python standard
library (the language reference in ``pydoc_data`` for English prose, module sources for code),
the JSON schemas of aimux's own wire models, and the Claude Code fixtures' tool definitions.
Debian's licence texts are added when ``/usr/share/common-licenses`` exists. Long documents are
cut into chunks of a few thousand characters at paragraph or line boundaries so each chunk is
one sample.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DIR = ROOT / "tests" / "fixtures" / "claude_code"
FIXTURES = sorted(FIXTURE_DIR.glob("request_*.json"))
LICENCES = Path("/usr/share/common-licenses")

Sample = tuple[str, str, str]
"""(category, name, text)."""

PROSE = {
    "narrative": (
        "The ferry left the harbour a little after six, while the fog was still lying low over the "
        "water. Maria stood at the rail with her coffee going cold in her hands and watched the town "
        "shrink behind them: the church tower first, then the row of painted houses along the quay, "
        "and finally the lighthouse, which kept blinking long after everything else had gone grey. "
        "She had promised her brother she would be back before the end of the month. Neither of them "
        "had believed it. The island was three hours away, and the last time she had gone there she "
        "had stayed for almost a year, mending nets, reading whatever the postman brought, and "
        "learning the names of the birds that nested on the cliffs behind the school."
    ),
    "explainer": (
        "A load balancer spreads incoming requests across a pool of servers so that no single machine "
        "becomes a bottleneck. The simplest strategy, round robin, sends each new request to the next "
        "server in the list. It works well when every request costs about the same, but it ignores the "
        "fact that some servers may already be busy with slow work. Least-connections balancing tracks "
        "how many requests each server is currently handling and prefers the quietest one. Health "
        "checks complete the picture: the balancer periodically probes each server and stops routing "
        "traffic to any that fail to answer, which lets operators replace broken machines without "
        "users noticing more than a brief increase in latency."
    ),
    "user_request": (
        "Hi! I'm working on a small Flask app that lets people in our office book meeting rooms. Right "
        "now everything is stored in a single SQLite file, and last week two people managed to book the "
        "same room for the same hour. Could you help me figure out why that happens and how to stop it? "
        "I think it's a race condition, because both requests check for conflicts before either one "
        "saves anything, but I'm not sure whether I should use a transaction, a unique constraint, or "
        "some kind of lock. I'd also like the error message to be friendly, something like \"Sorry, "
        'that slot was just taken", instead of the stack trace people see today. Thanks in advance.'
    ),
    "email": (
        "Dear Dr. Okafor,\n\nThank you for your letter of 14 March and for the detailed comments on our "
        "proposal. We have revised the methodology section as you suggested: the sample now includes "
        "households from both rural districts, and the survey will run over two seasons rather than "
        "one, so that we can separate the effect of the harvest from the effect of the new irrigation "
        "scheme. The revised budget is attached. It is slightly higher than the original estimate, "
        "mainly because of the additional travel, but we believe the stronger design justifies the "
        "cost.\n\nWe would be glad to discuss any remaining concerns at your convenience.\n\nKind "
        "regards,\nHelen Marsh\nProject Coordinator"
    ),
    "assistant_answer": (
        "There are three common reasons a cron job works when you run it by hand but fails on schedule. "
        "First, cron starts with a minimal environment: PATH is usually just /usr/bin:/bin, so commands "
        "installed elsewhere are not found unless you use absolute paths or set PATH at the top of the "
        "crontab. Second, the working directory is your home directory, not the folder the script lives "
        "in, so relative file paths resolve somewhere unexpected. Third, any output the job prints is "
        "mailed to the local user or silently discarded, which hides the actual error. Redirect both "
        "standard output and standard error to a log file while you debug, for example by appending "
        '">> /tmp/backup.log 2>&1" to the line, and the cause will usually be obvious.'
    ),
    "history": (
        "The printing press did not spread evenly across Europe. Within twenty years of Gutenberg's "
        "first Bible, presses were operating in more than a hundred towns, but they clustered along "
        "trade routes and in cities with universities, wealthy merchants, and a supply of paper. "
        "Venice quickly became the most important centre, partly because its publishers specialised "
        "in elegant editions of classical authors and partly because its ships could carry books to "
        "markets all over the Mediterranean. By contrast, large parts of eastern Europe saw very few "
        "printed books until the following century, and manuscripts remained the ordinary way of "
        "copying religious and legal texts there for several generations."
    ),
    "product_doc": (
        "Getting started\n\nInstall the command-line tool with your package manager, then run the setup "
        "command once to create a configuration file in your home directory. The file contains the "
        "address of the server, the name of the default project, and the path to the key you use to "
        "sign requests. You can edit it by hand at any time. Every command accepts the same options on "
        "the command line, and values given there override the configuration file for that run only.\n\n"
        "Troubleshooting\n\nIf a command hangs, check that the server address is reachable from your "
        "network and that the clock on your machine is correct: signed requests are rejected when the "
        "timestamps differ by more than five minutes."
    ),
    "typographic": (
        "“We’re not trying to build the fastest parser in the world,” she said — and then, after "
        "a pause, “just one that doesn’t fall over when someone pastes a résumé into it.” The team "
        "spent the next sprint on edge cases: smart quotes, non‑breaking hyphens, ellipses… the kind of "
        "characters that word processors insert without asking. By Friday the test suite covered 2,400 "
        "real documents, and the error rate had dropped from 3% to well under 0.1%."
    ),
    "review": (
        "I bought this kettle to replace one that had started to rust after only two years, and so far "
        "I'm pleased with it. It boils a full litre in a little under three minutes, switches itself off "
        "reliably, and the lid opens wide enough to clean the inside without scraping your knuckles. The "
        "water window is easy to read from across the kitchen. My only complaints are that the handle "
        "gets warm near the top and that the base is quite light, so it slides around on the counter "
        "when you lift it with one hand. For the price, though, it's a solid choice, and I'd buy it again."
    ),
}

TOOLS = [
    {
        "name": "get_weather",
        "description": "Get the current weather and a short forecast for a location. Use this when the user "
        "asks about temperature, rain, wind or what to wear. Returns conditions in the units requested.",
        "input_schema": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City and country, e.g. Lisbon, Portugal"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Units"},
                "days": {"type": "integer", "minimum": 1, "maximum": 7, "description": "Forecast days"},
            },
            "required": ["location"],
        },
    },
    {
        "name": "read_file",
        "description": "Read a text file from the workspace and return its contents with line numbers. "
        "Large files are truncated; pass offset and limit to read a specific range of lines. Binary "
        "files are refused. Paths must be absolute and inside the project directory.",
        "input_schema": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "Absolute path of the file to read"},
                "offset": {"type": "integer", "description": "First line to return, counting from 1"},
                "limit": {"type": "integer", "description": "Maximum number of lines to return"},
            },
            "required": ["path"],
            "additionalProperties": False,
        },
    },
    {
        "name": "edit_file",
        "description": "Replace an exact string in a file with new text. The old string must appear exactly "
        "once unless replace_all is true, so include enough surrounding context to make it unique. "
        "Preserve the file's indentation. Fails if the file has changed since it was last read.",
        "input_schema": {
            "type": "object",
            "properties": {
                "file_path": {"type": "string", "description": "Absolute path of the file to modify"},
                "old_string": {"type": "string", "description": "The text to replace"},
                "new_string": {"type": "string", "description": "The replacement text"},
                "replace_all": {"type": "boolean", "default": False, "description": "Replace every match"},
            },
            "required": ["file_path", "old_string", "new_string"],
        },
    },
    {
        "name": "run_shell_command",
        "description": "Execute a shell command in a persistent bash session and return its standard output, "
        "standard error and exit code. Commands time out after two minutes unless a longer timeout is "
        "given. Avoid interactive programs. Quote paths that contain spaces. Prefer the dedicated file "
        "tools over cat, sed or echo for reading and writing files.",
        "input_schema": {
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "The command line to execute"},
                "timeout_ms": {"type": "number", "description": "Timeout in milliseconds (max 600000)"},
                "description": {"type": "string", "description": "Five to ten words saying what it does"},
                "run_in_background": {"type": "boolean", "description": "Return at once; poll later"},
            },
            "required": ["command"],
        },
    },
    {
        "name": "search_orders",
        "description": "Search the order database. Filters are combined with AND. Dates are ISO 8601 in UTC. "
        "Results are sorted newest first and paginated; use the cursor from the previous page.",
        "input_schema": {
            "type": "object",
            "properties": {
                "customer_id": {"type": "string", "pattern": "^cus_[A-Za-z0-9]{14}$"},
                "status": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["pending", "paid", "shipped", "refunded"]},
                },
                "created_after": {"type": "string", "format": "date-time"},
                "created_before": {"type": "string", "format": "date-time"},
                "min_total_cents": {"type": "integer", "minimum": 0},
                "cursor": {"type": ["string", "null"]},
                "page_size": {"type": "integer", "minimum": 1, "maximum": 100, "default": 25},
            },
        },
    },
    {
        "name": "create_calendar_event",
        "description": "Create an event in the user's calendar and optionally invite other people. Confirm the "
        "time zone with the user if it is ambiguous. Attendees receive an email invitation.",
        "input_schema": {
            "type": "object",
            "properties": {
                "title": {"type": "string", "maxLength": 200},
                "start": {"type": "string", "format": "date-time", "description": "Start time"},
                "end": {"type": "string", "format": "date-time", "description": "End time"},
                "time_zone": {"type": "string", "description": "IANA zone name such as Europe/Berlin"},
                "attendees": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "email": {"type": "string", "format": "email"},
                            "optional": {"type": "boolean"},
                        },
                        "required": ["email"],
                    },
                },
                "location": {"type": "string"},
                "reminders_minutes": {"type": "array", "items": {"type": "integer"}},
            },
            "required": ["title", "start", "end"],
        },
    },
    {
        "name": "todo_write",
        "description": "Create and manage a structured task list for the current session. Use it for work "
        "with three or more distinct steps, mark a task in_progress before starting it, and mark it "
        "completed as soon as it is done. Only one task should be in progress at a time.",
        "input_schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "todos": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "content": {"type": "string", "minLength": 1},
                            "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                            "activeForm": {"type": "string", "minLength": 1},
                        },
                        "required": ["content", "status", "activeForm"],
                        "additionalProperties": False,
                    },
                    "description": "The updated todo list",
                }
            },
            "required": ["todos"],
            "additionalProperties": False,
        },
    },
    {
        "name": "web_fetch",
        "description": "Fetch a URL, convert the HTML to Markdown and answer the prompt about its content. "
        "Redirects to another host are reported instead of followed. Results are cached for fifteen "
        "minutes. Use a specialised tool instead when one is available for the site.",
        "input_schema": {
            "type": "object",
            "properties": {
                "url": {"type": "string", "format": "uri", "description": "The URL to fetch"},
                "prompt": {"type": "string", "description": "What to extract from the page"},
            },
            "required": ["url", "prompt"],
            "additionalProperties": False,
        },
    },
]

TOOL_INPUTS = {
    "bash_input": {"command": "git log --oneline -n 20 -- src/", "description": "Show recent commits"},
    "edit_input": {
        "file_path": "/home/dev/project/src/billing/invoice.py",
        "old_string": "    total = sum(line.amount for line in lines)\n    return total",
        "new_string": "    total = sum(line.amount for line in lines)\n    return round(total, 2)",
    },
    "todo_input": {
        "todos": [
            {"content": "Reproduce the failing test", "status": "completed", "activeForm": "Reproducing"},
            {"content": "Fix rounding in invoice totals", "status": "in_progress", "activeForm": "Fixing"},
            {"content": "Run the full test suite", "status": "pending", "activeForm": "Running tests"},
        ]
    },
    "search_input": {
        "customer_id": "cus_A8f3K2mP9xQ1rT",
        "status": ["paid", "shipped"],
        "created_after": "2024-01-01T00:00:00Z",
        "min_total_cents": 5000,
        "page_size": 50,
    },
    "api_response": {
        "id": "ord_2024_000917",
        "created": 1717171717,
        "customer": {"name": "Ana Ribeiro", "email": "ana.ribeiro@example.com", "tier": "gold"},
        "items": [
            {"sku": "KT-1042", "name": "Electric kettle, 1.7 l", "qty": 1, "unit_price": 3999},
            {"sku": "MG-0007", "name": "Stoneware mug", "qty": 4, "unit_price": 1250},
        ],
        "shipping": {"method": "standard", "eta_days": 3, "address": {"city": "Porto", "country": "PT"}},
        "total": 8999,
        "currency": "EUR",
    },
}

NON_ASCII = {
    "german": (
        "Die Bahn hatte wieder einmal Verspätung, und auf dem Bahnsteig drängten sich Pendler mit "
        "Regenschirmen und Aktentaschen. Über die Lautsprecher kam eine Durchsage, die niemand richtig "
        "verstand. Ein älterer Herr schüttelte den Kopf und murmelte, früher sei alles pünktlicher gewesen."
    ),
    "french": (
        "Le marché du samedi s'installe dès l'aube sur la place de l'église. On y trouve des fromages "
        "affinés, des légumes cueillis la veille et un boulanger qui vend son pain au levain à la pesée. "
        "À midi, les étals se vident et les habitués se retrouvent au café pour commenter la semaine."
    ),
    "spanish": (
        "La biblioteca municipal amplió su horario durante el verano para que los estudiantes pudieran "
        "preparar los exámenes de septiembre. Además, organizó talleres de lectura para niños y una "
        "exposición de fotografías antiguas del barrio, que atrajo a muchísimos vecinos."
    ),
    "russian": (
        "Вечером над рекой поднялся туман, и огни на другом берегу стали расплывчатыми. Рыбаки "
        "собрали снасти и медленно пошли к деревне, обсуждая погоду на завтра и цены на рынке."
    ),
    "chinese": (
        "这个项目的目标是为小型企业提供一个简单可靠的记账工具。用户可以导入银行流水，自动分类支出，"
        "并在月底生成报表。我们特别注重数据安全，所有信息都在本地加密保存。"
    ),
    "japanese": (
        "このライブラリは設定ファイルを読み込み、環境変数で上書きできるようにします。"
        "エラーが発生した場合は、どの項目が不正なのかを分かりやすいメッセージで表示します。"
    ),
    "korean": (
        "이 문서는 서비스를 처음 사용하는 개발자를 위한 안내서입니다. 계정을 만든 뒤 API 키를 발급받고, "
        "예제 코드를 실행하여 첫 번째 요청을 보내 보세요."
    ),
    "italian": (
        "Il treno per Firenze è partito con venti minuti di ritardo, così abbiamo perso la coincidenza. "
        "Per fortuna la signora della biglietteria è stata gentilissima e ci ha cambiato i biglietti."
    ),
    "portuguese": (
        "A câmara municipal anunciou que as obras na ponte começarão em março e deverão durar cerca de "
        "seis meses. Durante esse período, o trânsito será desviado pela estrada da margem norte."
    ),
    "polish": (
        "Wczoraj wieczorem poszliśmy z przyjaciółmi do nowej restauracji przy rynku. Jedzenie było "
        "świetne, choć obsługa trochę się spóźniała, bo w środku było mnóstwo gości."
    ),
    "greek": (
        "Η βιβλιοθήκη του πανεπιστημίου θα παραμείνει ανοιχτή όλο το καλοκαίρι, ώστε οι φοιτητές να "
        "μπορούν να μελετούν για τις εξετάσεις του Σεπτεμβρίου."
    ),
    "arabic": (
        "افتتحت المدينة حديقة عامة جديدة بالقرب من النهر، وتضم ممرات للمشي وملعبا للأطفال ومقهى صغيرا "
        "يفتح أبوابه كل صباح."
    ),
    "hindi": (
        "हमारी टीम ने इस सप्ताह नए संस्करण का परीक्षण पूरा कर लिया है और अगले सोमवार को इसे सभी "
        "उपयोगकर्ताओं के लिए जारी किया जाएगा।"
    ),
    "chinese_tech": (
        "如果请求超时，客户端会在等待一段时间后自动重试，最多三次。每次重试之间的间隔会逐渐增加，"
        "以免在服务器繁忙时造成更大的压力。日志中会记录每一次失败的原因。"
    ),
    "code_comment_zh": (
        "def parse_config(path):\n    # 读取配置文件，如果不存在就返回默认值\n    try:\n"
        '        with open(path, encoding="utf-8") as f:\n            return json.load(f)\n'
        "    except FileNotFoundError:\n        return {}  # 使用默认配置\n"
    ),
    "mixed_emoji": (
        "Release 2.4 is out 🎉 — faster builds ⚡, a new dark theme 🌙 and fixes for the crash on "
        "start-up 🐛✅. Thanks to everyone who tested the beta 🙏 (especially José, Zoë and Łukasz)!"
    ),
}


def _misc() -> dict[str, str]:
    rng = random.Random(20240601)
    blob = bytes(rng.getrandbits(8) for _ in range(1500))
    log_lines = [
        f"2024-06-01T12:{m:02d}:{s:02d}.{rng.randrange(1000):03d}Z INFO  request_id=req_{rng.getrandbits(48):012x} "
        f"method=POST path=/v1/messages status={rng.choice([200, 200, 200, 429, 500])} "
        f"latency_ms={rng.randrange(80, 4000)}"
        for m, s in zip(range(20), range(0, 60, 3), strict=True)
    ]
    ls = "\n".join(
        f"-rw-r--r--  1 dev  staff  {rng.randrange(100, 99999):>6} Jun  {rng.randrange(1, 30):>2} 10:{i:02d} {name}"
        for i, name in enumerate(
            ["README.md", "pyproject.toml", "setup.cfg", "Makefile", "main.py", "utils.py", "config.yaml"]
        )
    )
    csv = "date,region,product,units,revenue\n" + "\n".join(
        f"2024-05-{d:02d},{rng.choice(['north', 'south', 'east', 'west'])},{rng.choice(['kettle', 'mug', 'toaster'])},"
        f"{rng.randrange(1, 200)},{rng.randrange(100, 90000) / 100:.2f}"
        for d in range(1, 31)
    )
    diff = (
        "diff --git a/src/app.py b/src/app.py\nindex 3f2a1b4..8c9d0e1 100644\n--- a/src/app.py\n+++ b/src/app.py\n"
        "@@ -12,7 +12,9 @@ def create_app(config=None):\n     app = Flask(__name__)\n"
        "-    app.config.from_object(config or 'settings')\n+    app.config.from_object(config or 'settings')\n"
        "+    if app.config.get('SENTRY_DSN'):\n+        init_sentry(app.config['SENTRY_DSN'])\n"
        "     register_blueprints(app)\n     return app\n"
    )
    markdown = (
        "## Installation\n\n```bash\npip install widgetkit\n```\n\n## Usage\n\n| option | default | meaning |\n"
        "|---|---|---|\n| `--workers` | `4` | number of worker processes |\n| `--timeout` | `30` | seconds "
        "before a job is abandoned |\n\n> **Note:** options given on the command line override `widgetkit.toml`."
        "\n\n- [x] parse the config\n- [ ] hot reload\n"
    )
    tee, last, bar = "\u251c\u2500\u2500 ", "\u2514\u2500\u2500 ", "\u2502   "
    tree = (
        f"project/\n{tee}src/\n{bar}{tee}__init__.py\n{bar}{tee}app.py\n{bar}{last}models/\n"
        f"{bar}    {last}user.py\n{tee}tests/\n{bar}{last}test_app.py\n{last}README.md\n"
    )
    return {
        "tree": tree,
        "base64": base64.b64encode(blob).decode(),
        "hex_ids": " ".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(12)),
        "log_lines": "\n".join(log_lines),
        "ls_output": ls,
        "csv": csv,
        "diff": diff,
        "markdown": markdown,
        "indented": "\n".join("        " + ("    " * (i % 4)) + f"value_{i} = compute({i})" for i in range(40)),
    }


def chunks(text: str, size: int = 3000, sep: str = "\n\n", limit: int | None = None) -> list[str]:
    """Cut text into pieces of about ``size`` characters at ``sep`` boundaries."""
    out: list[str] = []
    cur: list[str] = []
    n = 0
    for part in text.split(sep):
        cur.append(part)
        n += len(part) + len(sep)
        if n >= size:
            out.append(sep.join(cur).strip())
            cur, n = [], 0
    if cur and n > size // 4:
        out.append(sep.join(cur).strip())
    out = [c for c in out if c]
    return out[:limit] if limit else out


def _prose() -> list[Sample]:
    samples: list[Sample] = [("prose", f"written/{k}", v) for k, v in PROSE.items()]
    import pydoc_data.topics as topics

    names = sorted(topics.topics)
    for name in names[::3]:
        for i, chunk in enumerate(chunks(topics.topics[name], 3000, limit=2)):
            samples.append(("prose", f"pydoc/{name}#{i}", chunk))
    licence = Path(sys.base_prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "LICENSE.txt"
    if licence.exists():
        for i, chunk in enumerate(chunks(licence.read_text(), 3000, limit=3)):
            samples.append(("prose", f"python-licence#{i}", chunk))
    for name in ("GPL-3", "Apache-2.0", "MPL-2.0", "LGPL-2.1", "Artistic"):
        path = LICENCES / name
        if path.exists():
            for i, chunk in enumerate(chunks(path.read_text(), 3000, limit=3)):
                samples.append(("prose", f"licence/{name}#{i}", chunk))
    return samples


def _code() -> list[Sample]:
    import argparse
    import asyncio.base_events
    import dataclasses
    import email.message
    import functools
    import http.client
    import json.decoder
    import logging
    import pathlib
    import shutil
    import textwrap
    import typing

    samples: list[Sample] = []
    mods = (argparse, asyncio.base_events, dataclasses, email.message, functools, http.client, json.decoder)
    mods += (logging, pathlib, shutil, textwrap, typing)
    for mod in mods:
        src = Path(mod.__file__).read_text()
        for i, chunk in enumerate(chunks(src, 3000, sep="\n", limit=3)):
            samples.append(("code", f"stdlib/{mod.__name__}#{i}", chunk))
    return samples


def _json_schema() -> list[Sample]:
    from aimux_core.wire import anthropic as wire

    samples: list[Sample] = [("json_schema", f"written/{t['name']}", json.dumps(t)) for t in TOOLS]
    samples.append(("json_schema", "written/tools-indent", json.dumps(TOOLS[:3], indent=2)))
    for model in (wire.MessagesRequest, wire.Message, wire.Tool, wire.Usage):
        schema = model.model_json_schema()
        for i, chunk in enumerate(chunks(json.dumps(schema), 3000, sep=", ", limit=3)):
            samples.append(("json_schema", f"pydantic/{model.__name__}#{i}", chunk))
    samples += _cloudformation_schemas()
    if FIXTURES:
        body = json.loads(FIXTURES[0].read_text())["body"]
        for tool in body.get("tools", []):
            text = json.dumps({k: tool[k] for k in ("name", "description", "input_schema") if k in tool})
            samples.append(("json_schema", f"claude_code/{tool['name']}", text))
    return samples


def _cloudformation_schemas() -> list[Sample]:
    """Real JSON Schemas with English descriptions, from cfn-lint (a dev dependency), if installed."""
    try:
        import cfnlint
    except ImportError:
        return []
    folder = Path(cfnlint.__file__).parent / "data" / "schemas" / "resources"
    samples: list[Sample] = []
    for path in sorted(folder.glob("*.json"))[::80]:
        doc = json.loads(path.read_text())
        schema = {k: doc[k] for k in ("description", "properties", "definitions", "required") if k in doc}
        for i, chunk in enumerate(chunks(json.dumps(schema), 4000, sep=", ", limit=2)):
            samples.append(("json_schema", f"cfn/{doc.get('typeName', path.stem)}#{i}", chunk))
    return samples


def build_corpus() -> list[Sample]:
    """Every calibration sample, in a stable order."""
    samples = _prose() + _json_schema()
    samples += [("json_data", f"written/{k}", json.dumps(v)) for k, v in TOOL_INPUTS.items()]
    samples += _code()
    samples += [("non_ascii", f"written/{k}", v) for k, v in NON_ASCII.items()]
    samples += [("misc", f"generated/{k}", v) for k, v in _misc().items()]
    return samples
