"""Render the report's sections as self-contained HTML (inline CSS, no JS) and as Markdown.

Every string from a result file (model names, folder paths, group names) is escaped: result files
are inputs we did not write, and a model called ``<script>`` must show up as text.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from mathsynth.report.doc import Cell, Link, Plot, Section, Table, rel_href

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1180px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #ddd;padding-bottom:.3em}
h2{margin-top:2em;border-bottom:1px solid #eee;padding-bottom:.2em}
h3{margin:1.4em 0 .4em}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.92em}
th,td{border:1px solid #ddd;padding:.3em .6em}
th{background:#f3f5f8;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fafbfc}
figure{margin:1em 0 2em}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}
.note{color:#555;font-size:.9em}
nav ul{columns:2}
code{background:#f3f5f8;padding:0 .2em}
footer{margin-top:3em;color:#888;font-size:.85em}
"""

_NUM = r"[-+]?(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?%?"
# A number, optionally with its interval and a small-cell dagger ("12.3 [10.1, 14.8]†"), "<0.001", or
# a dash (not recorded / not defined): right-aligned, and safe to write to Markdown unescaped.
_NUMERIC = re.compile(rf"^(<)?{_NUM}( \[{_NUM}, {_NUM}\])?†?$|^-$|^—$")


def _esc(s: object) -> str:
    return html.escape(str(s), quote=True)


def _href(path: Path, base: Path) -> str:
    return rel_href(path, base)


def _anchor(i: int) -> str:
    return f"s{i}"


def _cell_html(c: Cell) -> str:
    if isinstance(c, Link):
        return f'<a href="{_esc(c.href)}">{_esc(c.text)}</a>'
    return _esc(c)


def _table_html(t: Table) -> list[str]:
    out = [f"<h3>{_esc(t.title)}</h3>", "<table>", "<thead><tr>"]
    out += [f"<th>{_esc(c)}</th>" for c in t.columns]
    out += ["</tr></thead>", "<tbody>"]
    for row in t.rows:
        tds = []
        for c in row:
            cls = ' class="num"' if isinstance(c, str) and _NUMERIC.match(c) else ""
            tds.append(f"<td{cls}>{_cell_html(c)}</td>")
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    if t.note:
        out.append(f'<p class="note">{_esc(t.note)}</p>')
    return out


def to_html(title: str, intro: list[str], sections: list[Section], out_dir: Path, footer: str = "") -> str:
    """The whole report as an HTML page; images are relative ``<img src="plots/...">`` links.

    >>> from pathlib import Path
    >>> s = Section("Runs", ["a <b> paragraph", Table("t", ["x"], [["1"]])])
    >>> page = to_html("R&D", [], [s], Path("."))
    >>> "<title>R&amp;D</title>" in page, "a &lt;b&gt; paragraph" in page, '<td class="num">1</td>' in page
    (True, True, True)
    """
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_esc(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
           f"<h1>{_esc(title)}</h1>"]
    out += [f"<p>{_esc(p)}</p>" for p in intro]
    if len(sections) > 1:
        out.append("<nav><strong>Contents</strong><ul>")
        out += [f'<li><a href="#{_anchor(i)}">{_esc(s.title)}</a></li>' for i, s in enumerate(sections)]
        out.append("</ul></nav>")
    for i, s in enumerate(sections):
        out.append(f'<section id="{_anchor(i)}"><h2>{_esc(s.title)}</h2>')
        for item in s.items:
            if isinstance(item, Table):
                out += _table_html(item)
            elif isinstance(item, Link):
                out.append(f"<p>{_cell_html(item)}</p>")
            elif isinstance(item, Plot):
                src = _href(item.path, out_dir)
                out.append(f'<figure><img src="{_esc(src)}" alt="{_esc(item.caption)}">'
                           f"<figcaption>{_esc(item.caption)}</figcaption></figure>")
            else:
                out.append(f"<p>{_esc(item)}</p>")
        out.append("</section>")
    if footer:
        out.append(f"<footer>{_esc(footer)}</footer>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def _md_text(s: object) -> str:
    # Pipes would split a table cell and raw '<' could open an HTML tag in most Markdown renderers.
    return (str(s).replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")
            .replace("\n", " ").replace("[", "\\[").replace("]", "\\]"))


def _md_cell(c: Cell) -> str:
    if isinstance(c, Link):
        return f"[{_md_text(c.text)}]({c.href.replace(' ', '%20')})"
    if _NUMERIC.match(c):  # our own number formats: brackets of an interval need no escaping
        return c
    return _md_text(c)


def _table_md(t: Table) -> list[str]:
    out = [f"### {_md_text(t.title)}", "", "| " + " | ".join(_md_text(c) for c in t.columns) + " |"]
    aligns = []
    for j in range(len(t.columns)):
        col = [r[j] for r in t.rows if j < len(r)]
        numeric = bool(col) and all(isinstance(c, str) and _NUMERIC.match(c) for c in col)
        aligns.append("---:" if numeric else "---")
    out.append("| " + " | ".join(aligns) + " |")
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
    out.append("")
    if t.note:
        out += [f"*{_md_text(t.note)}*", ""]
    return out


def to_markdown(title: str, intro: list[str], sections: list[Section], out_dir: Path,
                footer: str = "") -> str:
    """The same report as Markdown: the same tables, and image links to the same PNGs.

    >>> from pathlib import Path
    >>> s = Section("Runs", [Table("t", ["run", "Pass@1 %"], [["a|b", "50.0"]]), Plot(Path("plots/p.png"), "cap")])
    >>> print(to_markdown("R", [], [s], Path(".")))
    # R
    <BLANKLINE>
    ## Runs
    <BLANKLINE>
    ### t
    <BLANKLINE>
    | run | Pass@1 % |
    | --- | ---: |
    | a\\|b | 50.0 |
    <BLANKLINE>
    ![cap](plots/p.png)
    <BLANKLINE>
    """
    out = [f"# {_md_text(title)}", ""]
    for p in intro:
        out += [_md_text(p), ""]
    for s in sections:
        out += [f"## {_md_text(s.title)}", ""]
        for item in s.items:
            if isinstance(item, Table):
                out += _table_md(item)
            elif isinstance(item, Link):
                out += [_md_cell(item), ""]
            elif isinstance(item, Plot):
                out += [f"![{_md_text(item.caption)}]({_href(item.path, out_dir)})", ""]
            else:
                out += [_md_text(item), ""]
    if footer:
        out += ["---", "", _md_text(footer), ""]
    return "\n".join(out)
