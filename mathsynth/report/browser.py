"""The sample browser: one self-contained static HTML page next to the report (``browser.html``).

It shows every evaluated problem with every sample (side by side when several runs cover the same
problems, with the flips between two of them) and every synthesis unit with why it was kept or
rejected. No server and no network: the page holds its data and plain JavaScript and works from
``file://``.

Why the page is laid out the way it is: the list (and its filters and search) needs only a small
index per problem, which sits first in the page, so the list paints as soon as the browser reaches
it. The heavy part (every completion of every run) follows in chunks of :data:`CHUNK` problems that
are decoded only when a problem is opened (or a completion search asks for them); above
:data:`COMPRESS_OVER` bytes they are gzip-compressed (and base64-encoded), which makes 5,000
problems x 16 samples a file of tens of megabytes instead of hundreds.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
from pathlib import Path
from typing import Any

from mathsynth.io import atomic_write_text
from mathsynth.report.browser_js import CORE_JS, EVAL_JS
from mathsynth.report.browser_js_synth import CSS, SYNTH_JS
from mathsynth.report.load import Inputs
from mathsynth.report.samples import SAMPLE_FIELDS, eval_columns, eval_payload
from mathsynth.report.synth_data import stage_counts, synth_payload

BROWSER_FILE = "browser.html"
CHUNK = 100
COMPRESS_OVER = 1_000_000
# The page may run its own inline script and style and show inline images, and nothing else: no
# request can leave it, whatever a model wrote into the data.
CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"


def script_json(obj: Any) -> str:
    """JSON that is safe inside a ``<script>`` element: every ``<`` is escaped, so no string (model
    output!) can close the element or open a comment there, and JSON.parse reads it back unchanged.

    >>> script_json({"t": "</script><b>"})
    '{"t":"\\\\u003c/script>\\\\u003cb>"}'
    >>> json.loads(script_json({"t": "</script>"})) == {"t": "</script>"}
    True
    """
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def encode_chunk(items: list, compress: bool) -> tuple[str, str]:
    """(encoding, payload) of one chunk of details: ``("json", text)`` or ``("gz", base64 of gzip)``.

    >>> enc, data = encode_chunk([{"a": 1}], compress=True)
    >>> enc, json.loads(gzip.decompress(base64.b64decode(data)))
    ('gz', [{'a': 1}])
    """
    text = script_json(items)
    if not compress:
        return "json", text
    # mtime=0: the same inputs give the same page byte for byte.
    return "gz", base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)).decode("ascii")


def _chunks(ns: str, details: list, compress: bool | None, chunk: int) -> list[str]:
    parts = [details[i:i + chunk] for i in range(0, len(details), chunk)]
    if compress is None:
        compress = sum(len(script_json(p)) for p in parts) > COMPRESS_OVER
    out = []
    for n, part in enumerate(parts):
        enc, data = encode_chunk(part, compress)
        out.append(f'<script type="text/plain" data-chunk="{ns}:{n}" data-enc="{enc}">{data}</script>')
    return out


def page(title: str, meta: dict, index: dict, chunk_html: list[str], footer: str = "") -> str:
    """The whole page: header, index and script first (fast first paint), data chunks last.

    >>> p = page("T <1>", {"cols": [], "synth": [], "chunk": 100}, {"e": [], "s": []}, [])
    >>> "<title>T &lt;1&gt;</title>" in p, "Content-Security-Policy" in p
    (True, True)
    """
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        f"<header><h1>{html.escape(title)}</h1></header>",
        '<noscript><p>The sample browser needs JavaScript (it runs locally; nothing is loaded from the '
        "network).</p></noscript>",
        '<div id="app"></div>',
        f'<script type="application/json" id="ms-meta">{script_json(meta)}</script>',
        f'<script type="application/json" id="ms-index">{script_json(index)}</script>',
        f"<script>{CORE_JS}{EVAL_JS}{SYNTH_JS}</script>",
        *chunk_html,
        f"<footer>{html.escape(footer)}</footer>" if footer else "",
        "</body>", "</html>", ""])


def write_browser(inputs: Inputs, out: str | Path, *, title: str = "mathsynth sample browser",
                  footer: str = "", compress: bool | None = None, chunk: int = CHUNK) -> dict | None:
    """Write ``out/browser.html`` for the eval runs (with ``samples.jsonl``) and synthesis folders in
    ``inputs``; None when there is nothing to browse. ``compress`` None: only when the data is large.

    Returns ``{"path", "problems", "runs", "samples", "synth_items", "bytes"}``.

    >>> import tempfile, pathlib
    >>> from mathsynth.report.load import load_inputs
    >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "syn").mkdir()
    >>> _ = (d / "syn" / "rejects.jsonl").write_text('{"id": "syn/a/0", "stage": "answer", "reason": "no parsable answer"}\\n')
    >>> res = write_browser(load_inputs([d / "syn"]), d / "rep")
    >>> res["path"].name, res["problems"], res["synth_items"]
    ('browser.html', 0, 1)
    """
    columns = eval_columns(inputs.evals, inputs.studies)
    index, details = eval_payload(columns)
    synth_meta, synth_index, chunk_html = [], [], []
    for j, run in enumerate(inputs.synths):
        s_index, s_details = synth_payload(run)
        synth_meta.append({"label": run.label, "n": len(s_index), "stages": stage_counts(s_index)})
        synth_index.append(s_index)
        chunk_html += _chunks(f"s{j}", s_details, compress, chunk)
    if not index and not synth_index:
        return None
    chunk_html = _chunks("e", details, compress, chunk) + chunk_html
    cols = [{"label": c.label, "benchmarks": c.benchmarks} for c in columns]
    meta = {"cols": cols, "synth": synth_meta, "chunk": chunk, "fields": SAMPLE_FIELDS}
    text = page(title, meta, {"e": index, "s": synth_index}, chunk_html, footer)
    path = Path(out) / BROWSER_FILE
    atomic_write_text(path, text)
    n_samples = sum(r[1] for p in index for r in p["r"] if r)
    return {"path": path, "problems": len(index), "runs": len(columns), "samples": n_samples,
            "synth_items": sum(len(s) for s in synth_index), "bytes": path.stat().st_size}
