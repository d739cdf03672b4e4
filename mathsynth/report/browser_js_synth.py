"""The sample browser's script, part 2: the synthesis view and the page's start-up (tabs).

Same rules as :mod:`mathsynth.report.browser_js`: teacher text only ever reaches the page as text.
"""

SYNTH_JS = r"""
const S = {runs: META.synth, rows: INDEX.s, list: null, run: 0};

function synthControls() {
  const ctl = [];
  if (S.runs.length > 1)
    ctl.push(select("s-run", "synthesis run", S.runs.map((r, j) => [String(j), r.label]), () => {
      S.run = +val("s-run"); fillStages(); applySynth(); }));
  ctl.push(select("s-status", "status", [["", "all"], ["accepted", "accepted"], ["rejected", "rejected"],
                                         ["candidate", "candidate (run not finished)"]], applySynth));
  ctl.push(el("label", {class: "ctl"}, "reject reason ", el("select", {id: "s-stage", onchange: applySynth})));
  ctl.push(el("label", {class: "ctl"}, el("input", {id: "s-q", type: "search",
    placeholder: "search question, seed, id, reason", oninput: debounce(applySynth, 200)})));
  return ctl;
}

function fillStages() {
  const s = document.getElementById("s-stage"), run = S.runs[S.run];
  s.replaceChildren(el("option", {value: "", text: "any"}),
    ...run.stages.map(([stage, n]) => el("option", {value: stage, text: stage + " (" + n + ")"})));
}

function applySynth() {
  const rows = S.rows[S.run], status = val("s-status"), stage = val("s-stage");
  const q = val("s-q").trim().toLowerCase();
  const view = [];
  rows.forEach((r, i) => {
    if (status && r.st !== status) return;
    if (stage && (r.st !== "rejected" || (r.sg || "unknown") !== stage)) return;
    if (q && ![r.id, r.q, r.sq, r.seed, r.rs].some(x => x && x.toLowerCase().includes(q))) return;
    view.push(i);
  });
  const count = document.getElementById("s-count");
  count.textContent = "Showing " + view.length + " of " + rows.length + " items";
  count.dataset.n = String(view.length);
  S.list.set(view);
}

function jumpTo(id) {
  // "duplicate of X": show X (search by its id) so the two can be compared.
  document.getElementById("s-status").value = "";
  document.getElementById("s-stage").value = "";
  document.getElementById("s-q").value = id;
  applySynth();
}

function synthRow(i) {
  const r = S.rows[S.run][i];
  const badge = el("span", {class: "status st-" + r.st, text: r.st});
  const why = r.st === "rejected" ? el("span", {class: "reason", text: (r.sg || "?") + ": " + (r.rs || "")}) : null;
  const head = el("div", {class: "head", tabindex: "0", role: "button"},
    el("span", {class: "pid", text: r.id}), badge, why,
    el("span", {class: "q", text: r.q ? (r.q.length > 220 ? r.q.slice(0, 220) + "…" : r.q) : "(no question parsed)"}));
  const row = el("div", {class: "item", "data-i": i}, head);
  const open = () => toggle(row, () => synthDetail(i));
  head.addEventListener("click", open);
  head.addEventListener("keydown", e => { if (e.key === "Enter") open(); });
  return row;
}

function reasonBlock(r) {
  if (r.st !== "rejected") return el("p", {class: "ok", text: r.st === "accepted" ? "Accepted." : "Candidate: the run has not finished (dedup and decontamination still to come)."});
  const kids = [el("strong", {text: "Rejected at " + (r.sg || "?") + ": "}), r.rs || ""];
  if (r.dup) kids.push(" ", el("button", {type: "button", class: "jump", onclick: () => jumpTo(r.dup)},
                               "show " + r.dup));
  if (r.tid) kids.push(el("span", {class: "note", text: " (test problem " + r.tid +
                                   (r.sc !== null && r.sc !== undefined ? ", score " + r.sc : "") + ")"}));
  return el("p", {class: "reject"}, kids);
}

async function synthDetail(i) {
  const r = S.rows[S.run][i], d = await details("s" + S.run, i);
  const answers = d.ans.map((a, k) => {
    const [text, parsed, reject, ws, we] = a;
    return el("div", {class: "sample" + (reject ? " wrong" : " right")},
      el("div", {class: "sh"}, "answer #" + (k + 1) + " ", parsed ? el("code", {text: parsed}) : null,
         reject ? el("span", {class: "bad", text: " rejected: " + reject}) : null),
      text ? marked(text, ws, we, "the wrong arithmetic step") : null);
  });
  const checks = Object.entries(d.chk || {}).map(([k, v]) => k.replace(/_/g, " ") + " " + v).join(" · ");
  return [
    reasonBlock(r),
    el("div", {class: "cols pair"},
      el("div", {class: "col"}, el("h4", {text: "Seed " + (r.seed || "")}),
         r.sq ? el("p", {class: "question box", text: r.sq}) : el("p", {class: "note", text: "seed question not recorded in this folder"})),
      el("div", {class: "col"}, el("h4", {text: "New question" + (d.chg ? " (changed by the teacher's verification)" : "")}),
         r.q ? el("p", {class: "question box", text: r.q}) : el("p", {class: "note", text: "no question parsed"}))),
    el("p", {}, "Teacher ", el("code", {text: r.t || "?"}), " · mode " + (r.m || "?") +
       (r.ag !== null && r.ag !== undefined ? " · answers agree " + (100 * r.ag).toFixed(0) + "%" : "") +
       (r.a ? " · final answer " : ""), r.a ? el("code", {text: r.a}) : null),
    checks ? el("p", {class: "note", text: "checks: " + checks}) : null,
    d.wrong ? el("p", {}, "First wrong arithmetic step: ", el("mark", {class: "wrong", text: d.wrong})) : null,
    d.raw ? el("details", {open: true}, el("summary", {text: "Teacher output (question, verification and modification)"}),
               el("pre", {class: "text", text: d.raw})) : null,
    answers.length ? el("h4", {text: "The " + answers.length + " answers"}) : null,
    answers.length ? el("div", {class: "cols"}, answers) : null,
    d.sol ? el("h4", {text: "Kept solution"}) : null,
    d.sol ? marked(d.sol, d.ss ? d.ss[0] : null, d.ss ? d.ss[1] : null, "the wrong arithmetic step") : null];
}

function initSynth(root) {
  root.append(el("div", {class: "controls"}, synthControls()), el("p", {id: "s-count", class: "count"}));
  const list = el("div", {id: "s-list", class: "list"});
  root.append(list);
  S.list = lazyList(list, synthRow);
  fillStages();
  applySynth();
}

(function start() {
  const app = document.getElementById("app");
  const views = [];
  if (META.cols.length) views.push(["samples", "Samples", initEval]);
  if (META.synth.length) views.push(["synth", "Synthesis", initSynth]);
  const tabs = el("nav", {class: "tabs"});
  for (const [id, label, init] of views) {
    const pane = el("section", {id: "view-" + id, class: "view"});
    app.append(pane);
    init(pane);
    if (views.length > 1)
      tabs.append(el("button", {type: "button", id: "tab-" + id, onclick: () => show(id)}, label));
  }
  if (views.length > 1) app.prepend(tabs);
  function show(id) {
    for (const [v] of views) {
      document.getElementById("view-" + v).hidden = v !== id;
      const t = document.getElementById("tab-" + v);
      if (t) t.classList.toggle("on", v === id);
    }
  }
  if (views.length) show(views[0][0]);
  performance.mark("ms-ready");
  // The frame after this one is painted with the list in it: mark when that paint is done.
  requestAnimationFrame(() => setTimeout(() => performance.mark("ms-painted"), 0));
  window.__msReady = true;
})();
"""

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:0 1.2em 3em;color:#1d1d1f;
line-height:1.4;background:#fff}
header{border-bottom:2px solid #ddd;margin-bottom:.6em}
h1{font-size:1.4em;margin:.6em 0 .2em}
h4{margin:.6em 0 .3em;font-size:1em}
.tabs{margin:.6em 0}.tabs button{font-size:1em;padding:.3em 1em;border:1px solid #bbb;background:#f4f4f4;cursor:pointer}
.tabs button.on{background:#0072B2;color:#fff;border-color:#0072B2}
.controls{display:flex;flex-wrap:wrap;gap:.4em 1em;align-items:center;background:#f3f5f8;padding:.5em .7em;
border-radius:6px;position:sticky;top:0;z-index:2}
.ctl{white-space:nowrap}.group{border-left:2px solid #ccc;padding-left:.8em}
input[type=search]{width:22em;padding:.2em .4em}
.count{font-weight:600;margin:.5em 0}
.paired{border-collapse:collapse;margin:.3em 0 .8em}.paired th,.paired td{border:1px solid #ccc;padding:.2em .6em;text-align:left}
td.fixed{background:#e3f2ea}td.broken{background:#fbe6dc}
.prob,.item{border-bottom:1px solid #e4e4e4}
.head{display:grid;grid-template-columns:minmax(9em,14em) minmax(8em,14em) 1fr;gap:.2em 1em;padding:.45em .3em;cursor:pointer}
.head:hover,.open>.head{background:#f6f8fb}
.pid{font-family:ui-monospace,monospace;font-size:.85em;overflow-wrap:anywhere}
.tags,.reason{color:#555;font-size:.88em}
.q{grid-column:3;overflow-wrap:anywhere}
.runs{grid-column:1/4;display:flex;flex-wrap:wrap;gap:.3em 1.2em;font-size:.88em;color:#333}
.run .bar{display:inline-block;width:4em;height:.55em;background:#e5e5e5;margin-left:.4em;vertical-align:middle}
.run .bar span{display:block;height:100%;background:#009E73}
.ok{color:#00704f;font-weight:700}.bad{color:#b3401a;font-weight:700}
.detail{padding:.4em .6em 1em;background:#fcfcfd}
.cols{display:grid;grid-auto-flow:column;grid-auto-columns:minmax(22em,1fr);gap:.8em;overflow-x:auto}
.cols.pair{grid-auto-columns:1fr}
.col{min-width:0}
pre.text{white-space:pre-wrap;overflow-wrap:anywhere;background:#f7f7f9;border:1px solid #e2e2e6;padding:.4em .6em;
margin:.2em 0 .6em;max-height:24em;overflow-y:auto;font-size:.86em}
.sample{border-left:4px solid #999;padding-left:.5em;margin-bottom:.5em}
.sample.right{border-color:#009E73}.sample.wrong{border-color:#D55E00}
.sample.truncated pre.text{border-style:dashed;border-color:#D55E00}
.sh{font-size:.85em;color:#333}
.kind{padding:0 .35em;border-radius:3px;background:#eee}
.k-correct{background:#d7efe4}.k-calculation{background:#fbe5c0}.k-reasoning{background:#f3dcea}
.k-truncated{background:#f8d3c2}.k-no_answer{background:#e4e4e4}
.trunc{margin-left:.5em;color:#fff;background:#D55E00;padding:0 .35em;border-radius:3px}
.cut{color:#D55E00;font-style:italic}
mark.wrong{background:#ffd37a;outline:2px solid #D55E00;border-radius:2px}
.status{font-size:.85em;padding:0 .4em;border-radius:3px;justify-self:start}
.st-accepted{background:#d7efe4}.st-rejected{background:#fbe6dc}.st-candidate{background:#e4e4e4}
.item .head{grid-template-columns:minmax(9em,16em) auto 1fr}.item .q{grid-column:1/4}
.reject{background:#fbe6dc;padding:.3em .6em}
.note{color:#666;font-size:.9em}.question{white-space:pre-wrap;overflow-wrap:anywhere;font-size:1.02em}
.box{background:#f7f7f9;border:1px solid #e2e2e6;padding:.4em .6em;margin:.2em 0 .6em}.error{color:#b3401a}
.more{margin:1em 0}
footer{margin-top:2em;color:#888;font-size:.85em}
"""
