"""The sample browser's script, part 1: helpers, lazy data chunks, tabs and the samples view.

Kept as Python strings (not package data files) so the one self-contained page can be written from
any install of mathsynth. Rules the script keeps, because every string it shows is model output or
teacher text and must be treated as hostile: text goes into the page only through ``textContent``
and text nodes (never ``innerHTML``), no attribute is built from data except ``data-*`` and
``title``, and nothing is fetched: the data sits in the page, in chunks decoded on first use (a
Content-Security-Policy in the page forbids any network access as a second line of defence).
"""

import json

from mathsynth.contracts import ERROR_KINDS

CORE_JS = r"""
"use strict";
const META = JSON.parse(document.getElementById("ms-meta").textContent);
const INDEX = JSON.parse(document.getElementById("ms-index").textContent);
const PAGE = 40;  // rows rendered at a time; more are added as the list scrolls into view

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = String(v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}
function select(id, label, options, onchange) {
  // options: [[value, text], ...]; the first is the default
  const s = el("select", {id: id, onchange: onchange},
    options.map(([v, t]) => el("option", {value: v, text: t})));
  return el("label", {class: "ctl"}, label + " ", s);
}
function val(id) { const e = document.getElementById(id); return e ? e.value : ""; }
function pct(x) { return x === null || x === undefined ? "-" : (100 * x).toFixed(1) + "%"; }

// Text with one span marked (the first wrong arithmetic step), as three text nodes around a <mark>.
function marked(text, start, end, title) {
  const pre = el("pre", {class: "text"});
  if (start === null || start === undefined || !(end > start) || end > text.length) {
    pre.textContent = text;
    return pre;
  }
  pre.append(document.createTextNode(text.slice(0, start)),
             el("mark", {class: "wrong", title: title, text: text.slice(start, end)}),
             document.createTextNode(text.slice(end)));
  return pre;
}

const chunks = new Map();
function whenParsed() {
  if (document.readyState !== "loading") return Promise.resolve();
  return new Promise(r => document.addEventListener("DOMContentLoaded", r, {once: true}));
}
function loadChunk(name) {
  if (!chunks.has(name)) chunks.set(name, (async () => {
    let node = document.querySelector('script[data-chunk="' + name + '"]');
    if (!node) { await whenParsed(); node = document.querySelector('script[data-chunk="' + name + '"]'); }
    if (!node) throw new Error("data chunk " + name + " is missing from the page");
    let text = node.textContent;
    if (node.dataset.enc === "gz") {
      if (typeof DecompressionStream === "undefined")
        throw new Error("this browser cannot unpack the page's compressed data " +
                        "(needs DecompressionStream: Chrome 80+, Firefox 113+, Safari 16.4+)");
      const bin = atob(text), bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
      text = await new Response(stream).text();
    }
    return JSON.parse(text);
  })());
  return chunks.get(name);
}
async function details(ns, i) {
  const c = await loadChunk(ns + ":" + Math.floor(i / META.chunk));
  return c[i % META.chunk];
}
function chunkNames(ns, n) {
  const out = [];
  for (let c = 0; c * META.chunk < n; c++) out.push(ns + ":" + c);
  return out;
}

// A list that renders PAGE rows at a time and the next ones when its end scrolls into view.
function lazyList(container, rowFor) {
  const state = {items: [], shown: 0};
  const more = el("button", {class: "more", type: "button", onclick: () => grow()}, "show more");
  const sentinel = el("div", {class: "sentinel"}, more);
  container.after(sentinel);
  function grow() {
    const frag = document.createDocumentFragment();
    const stop = Math.min(state.items.length, state.shown + PAGE);
    for (; state.shown < stop; state.shown++) frag.append(rowFor(state.items[state.shown]));
    container.append(frag);
    more.hidden = state.shown >= state.items.length;
  }
  if ("IntersectionObserver" in window)
    new IntersectionObserver(es => { if (es.some(e => e.isIntersecting)) grow(); },
                             {rootMargin: "600px"}).observe(sentinel);
  return {
    set(items) { state.items = items; state.shown = 0; container.replaceChildren(); grow(); },
  };
}

function toggle(row, build) {
  let d = row.querySelector(":scope > .detail");
  if (d) { d.remove(); row.classList.remove("open"); return; }
  d = el("div", {class: "detail"}, el("p", {class: "note", text: "loading…"}));
  row.append(d);
  row.classList.add("open");
  build().then(kids => d.replaceChildren(...kids.filter(k => k !== null && k !== undefined)),
               err => d.replaceChildren(el("p", {class: "error", text: String(err && err.message || err)})));
}
"""

EVAL_JS = r"""
const KIND_LABEL = {correct: "correct", calculation: "calculation error", reasoning: "reasoning error",
                    truncated: "truncated (token limit)", no_answer: "no answer"};
function kindLabel(k) { return KIND_LABEL[k] || String(k).replace(/_/g, " "); }
const E = {rows: INDEX.e, cols: META.cols, text: null, list: null, token: 0};

function evalOptions(key, fmt) {
  const counts = new Map();
  for (const p of E.rows) if (p[key] !== null && p[key] !== undefined) counts.set(p[key], (counts.get(p[key]) || 0) + 1);
  const keys = [...counts.keys()].sort((a, b) => (typeof a === "number" && typeof b === "number") ? a - b
                                                : String(a).localeCompare(String(b)));
  return keys.map(k => [String(k), fmt(k) + " (" + counts.get(k) + ")"]);
}
function ratio(r) { return r ? r[0] / Math.max(1, r[1]) : null; }
function rightUnder(r, basis) {
  if (!r) return null;
  if (basis === "any") return r[0] > 0 ? 1 : 0;
  if (basis === "ratio") return ratio(r);
  return r[2];
}
function flipOf(p) {
  const a = +val("e-a"), b = +val("e-b"), basis = val("e-basis") || "p1";
  const x = rightUnder(p.r[a], basis), y = rightUnder(p.r[b], basis);
  if (x === null || y === null) return null;
  return y > x ? "fixed" : y < x ? "broken" : (y ? "both" : "neither");
}

function evalControls() {
  const many = E.cols.length > 1;
  const runOpts = E.cols.map((c, j) => [String(j), c.label]);
  const kinds = [...new Set(E.rows.flatMap(p => p.r.flatMap(r => r ? Object.keys(r[3]) : [])))];
  const order = __ERROR_KINDS__;
  kinds.sort((a, b) => ((order.indexOf(a) + 1) || 99) - ((order.indexOf(b) + 1) || 99) || a.localeCompare(b));
  const ctl = [];
  const benches = evalOptions("b", String);
  if (benches.length > 1) ctl.push(select("e-bench", "benchmark", [["", "all"], ...benches], applyEval));
  const levels = evalOptions("lv", k => "level " + k), subjects = evalOptions("sj", String);
  const steps = evalOptions("st", k => k + (k === 1 ? " step" : " steps"));
  if (levels.length) ctl.push(select("e-level", "MATH level", [["", "all"], ...levels], applyEval));
  if (subjects.length) ctl.push(select("e-subject", "subject", [["", "all"], ...subjects], applyEval));
  if (steps.length) ctl.push(select("e-steps", "GSM8K steps", [["", "all"], ...steps], applyEval));
  if (many) ctl.push(select("e-run", "verdicts of", runOpts, applyEval));
  ctl.push(select("e-pattern", "samples right", [["", "any"], ["all", "all right"], ["some", "some right"],
                                                 ["none", "none right"]], applyEval));
  ctl.push(select("e-error", "has a sample that is", [["", "anything"], ...kinds.map(k => [k, kindLabel(k)])],
                  applyEval));
  if (many) {
    const a = select("e-a", "A", runOpts, applyEval), b = select("e-b", "B", runOpts, applyEval);
    b.querySelector("select").value = String(E.cols.length - 1);
    ctl.push(el("span", {class: "group"}, "compare ", a, b,
      select("e-flip", "", [["", "all problems"], ["fixed", "fixed by training (B right, A wrong)"],
                            ["broken", "broken by training (A right, B wrong)"], ["changed", "either flip"],
                            ["same", "no change"]], applyEval),
      select("e-basis", "by", [["p1", "Pass@1"], ["any", "any sample right (Pass@N)"],
                               ["ratio", "share of samples right"]], applyEval)));
  }
  const sorts = [["", "file order"], ["asc", "pass ratio, lowest first"], ["desc", "pass ratio, highest first"]];
  if (many) sorts.push(["gain", "B − A pass ratio, largest gain first"], ["loss", "B − A, largest loss first"]);
  ctl.push(select("e-sort", "sort", sorts, applyEval));
  const q = el("input", {id: "e-q", type: "search", placeholder: "search question, id, answer",
                         oninput: debounce(applyEval, 200)});
  const qc = el("input", {id: "e-qc", type: "checkbox", onchange: applyEval});
  ctl.push(el("label", {class: "ctl"}, q), el("label", {class: "ctl"}, qc, " also in completions"));
  return ctl;
}

function debounce(f, ms) { let t = 0; return () => { clearTimeout(t); t = setTimeout(f, ms); }; }

async function completionText() {
  // Decoding every chunk costs a moment on large pages: done once, only when asked for.
  if (E.text) return E.text;
  const out = new Array(E.rows.length).fill("");
  for (const name of chunkNames("e", E.rows.length)) {
    const c = await loadChunk(name), base = +name.split(":")[1] * META.chunk;
    c.forEach((d, k) => {
      out[base + k] = d.runs.map(r => r ? (r.g ? [r.g, ...r.s] : r.s).map(s => s[0]).join("\n") : "")
        .join("\n").toLowerCase();
    });
  }
  return (E.text = out);
}

async function applyEval() {
  const token = ++E.token;
  const bench = val("e-bench"), lv = val("e-level"), sj = val("e-subject"), st = val("e-steps");
  const run = +(val("e-run") || 0), pat = val("e-pattern"), kind = val("e-error");
  const flip = val("e-flip"), sort = val("e-sort"), q = val("e-q").trim().toLowerCase();
  const inText = q && document.getElementById("e-qc").checked;
  const count = document.getElementById("e-count");
  let text = null;
  if (inText) { count.textContent = "searching completions…"; text = await completionText(); }
  if (token !== E.token) return;
  const base = [];  // every filter but the flip one: what the paired counts describe
  E.rows.forEach((p, i) => {
    if (bench && p.b !== bench) return;
    if (lv && String(p.lv) !== lv) return;
    if (sj && String(p.sj) !== sj) return;
    if (st && String(p.st) !== st) return;
    const r = p.r[run];
    if (pat && (!r || (pat === "all" ? r[0] !== r[1] : pat === "none" ? r[0] !== 0 : (r[0] === 0 || r[0] === r[1])))) return;
    if (kind && (!r || !r[3][kind])) return;
    if (q && !(p.q.toLowerCase().includes(q) || p.id.toLowerCase().includes(q) || p.g.toLowerCase() === q
               || (text && text[i].includes(q)))) return;
    base.push(i);
  });
  let view = base;
  if (flip) view = base.filter(i => {
    const f = flipOf(E.rows[i]);
    return flip === "changed" ? (f === "fixed" || f === "broken") : flip === "same" ? (f === "both" || f === "neither") : f === flip;
  });
  if (sort) {
    const a = +val("e-a"), b = +val("e-b");
    const key = sort === "asc" || sort === "desc" ? (i => ratio(E.rows[i].r[run]))
      : (i => { const p = E.rows[i]; return p.r[a] && p.r[b] ? ratio(p.r[b]) - ratio(p.r[a]) : null; });
    const sign = sort === "asc" || sort === "loss" ? 1 : -1;
    view = view.slice().sort((x, y) => {
      const kx = key(x), ky = key(y);
      if (kx === null || ky === null) return (kx === null) - (ky === null);
      return sign * (kx - ky) || x - y;
    });
  }
  count.textContent = "Showing " + view.length + " of " + E.rows.length + " problems";
  count.dataset.n = String(view.length);
  if (E.cols.length > 1) paired(base);
  E.list.set(view);
}

function paired(idx) {
  const n = {fixed: 0, broken: 0, both: 0, neither: 0};
  let m = 0;
  for (const i of idx) { const f = flipOf(E.rows[i]); if (f) { n[f]++; m++; } }
  const a = E.cols[+val("e-a")].label, b = E.cols[+val("e-b")].label;
  const byRatio = val("e-basis") === "ratio";
  const box = document.getElementById("e-paired");
  box.replaceChildren(el("table", {class: "paired"},
    el("tr", {}, el("th", {text: "paired on " + m + " problems"}), el("th", {text: "B: " + b + " right"}),
       el("th", {text: "B wrong"})),
    el("tr", {}, el("th", {text: "A: " + a + " right"}), el("td", {text: byRatio ? "-" : n.both}),
       el("td", {class: "broken", "data-n": n.broken, text: n.broken + (byRatio ? " lower" : " broken")})),
    el("tr", {}, el("th", {text: "A wrong"}),
       el("td", {class: "fixed", "data-n": n.fixed, text: n.fixed + (byRatio ? " higher" : " fixed")}),
       el("td", {text: byRatio ? (n.both + n.neither) + " same" : n.neither}))));
}

function runBadge(c, r) {
  if (!r) return el("span", {class: "run missing", title: c.label + ": not evaluated"}, c.label + " –");
  const bar = el("span", {class: "bar"}, el("span", {}));
  bar.firstChild.style.width = (100 * r[0] / Math.max(1, r[1])).toFixed(0) + "%";
  return el("span", {class: "run", title: c.label + ": " + r[0] + " of " + r[1] + " samples right; Pass@1 " +
                     (r[2] ? "right" : "wrong")},
            c.label + " ", el("span", {class: r[2] ? "ok" : "bad", text: r[2] ? "✓" : "✗"}), " ",
            r[0] + "/" + r[1], bar);
}

function evalRow(i) {
  const p = E.rows[i];
  const tags = [p.b, p.lv !== null ? "level " + p.lv : null, p.sj, p.st !== null ? p.st + (p.st === 1 ? " step" : " steps") : null]
    .filter(x => x !== null && x !== undefined);
  const head = el("div", {class: "head", tabindex: "0", role: "button"},
    el("span", {class: "pid", text: p.id}), el("span", {class: "tags", text: tags.join(" · ")}),
    el("span", {class: "q", text: p.q.length > 220 ? p.q.slice(0, 220) + "…" : p.q}),
    el("span", {class: "runs"}, E.cols.map((c, j) => runBadge(c, p.r[j]))));
  const row = el("div", {class: "prob", "data-i": i}, head);
  const open = () => toggle(row, () => evalDetail(i));
  head.addEventListener("click", open);
  head.addEventListener("keydown", e => { if (e.key === "Enter") open(); });
  return row;
}

function sampleCard(s, label) {
  const [text, extracted, verdict, rule, finish, kind, ws, we, error] = s;
  const trunc = finish === "length";
  const head = el("div", {class: "sh"},
    el("span", {class: verdict ? "ok" : "bad", text: verdict ? "✓" : "✗"}), " " + label + " ",
    el("span", {class: "kind k-" + kind, text: kindLabel(kind)}),
    " · answer ", el("code", {text: extracted === null ? "none" : extracted}),
    rule ? " · rule " + rule : "", finish ? " · finish " + finish : "",
    trunc ? el("span", {class: "trunc", text: "cut off at the token limit"}) : null,
    error ? el("span", {class: "bad", text: " · error: " + error}) : null);
  const body = marked(text, ws, we, "first arithmetic step the step checker found wrong");
  if (trunc) body.append(el("span", {class: "cut", text: " [… output stopped at the token limit]"}));
  return el("div", {class: "sample" + (verdict ? " right" : " wrong") + (trunc ? " truncated" : ""),
                    "data-kind": kind}, head, body);
}

async function evalDetail(i) {
  const p = E.rows[i], d = await details("e", i);
  const cols = E.cols.map((c, j) => {
    const r = d.runs[j];
    if (!r) return null;
    const sum = p.r[j];
    return el("div", {class: "col"},
      el("h4", {text: c.label + ": " + sum[0] + " of " + sum[1] + " samples right"}),
      r.g ? sampleCard(r.g, "greedy") : null,
      r.s.map((s, k) => sampleCard(s, "#" + (k + 1))));
  }).filter(Boolean);
  return [
    el("div", {class: "ref"},
      el("h4", {text: "Question"}), el("p", {class: "question", text: p.q}),
      el("p", {}, "Reference answer ", el("code", {text: p.g})),
      el("h4", {text: "Reference solution"}),
      d.sol ? el("pre", {class: "text", text: d.sol}) : el("p", {class: "note", text: "not recorded in samples.jsonl"})),
    el("div", {class: "cols"}, cols)];
}

function initEval(root) {
  const n = E.rows.length, samples = E.cols.map(c => c.label).join(", ");
  root.append(...[
    el("p", {class: "summary", text: n + " problems; runs: " + samples + ". Click a problem to see every sample."}),
    el("div", {class: "controls"}, evalControls()),
    el("p", {id: "e-count", class: "count"}),
    E.cols.length > 1 ? el("div", {id: "e-paired"}) : null].filter(Boolean));
  const list = el("div", {id: "e-list", class: "list"});
  root.append(list);
  E.list = lazyList(list, evalRow);
  applyEval();
}
""".replace("__ERROR_KINDS__", json.dumps(list(ERROR_KINDS)))  # the kinds in the one order metrics.json owns
