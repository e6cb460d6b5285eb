// The status page: one self-contained HTML document (no external assets) that polls /status.json each second
// and draws the session machine from its generated description with live counts per state.

export const STATUS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Voltlane edge</title>
<style>
:root{--bg:#0f1419;--panel:#18202a;--line:#2c3a4a;--text:#d8e0e8;--dim:#8a99a8;--ok:#3fb950;--warn:#d29922;--bad:#f85149;--acc:#58a6ff}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:var(--bg);color:var(--text)}
header{display:flex;gap:16px;align-items:center;padding:12px 20px;border-bottom:1px solid var(--line)}
h1{font-size:18px;margin:0}h2{font-size:14px;margin:0 0 8px;color:var(--dim);text-transform:uppercase;letter-spacing:.05em}
.pill{padding:2px 10px;border-radius:999px;background:var(--panel);border:1px solid var(--line)}
.ok{color:var(--ok)}.warn{color:var(--warn)}.bad{color:var(--bad)}
main{display:grid;grid-template-columns:minmax(0,2fr) minmax(0,1fr);gap:16px;padding:16px 20px}
section{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.machine{display:flex;gap:12px;flex-wrap:wrap;align-items:stretch}
.state{border:1px solid var(--line);border-radius:8px;padding:8px;min-width:120px}
.state.compound{background:#131a22}.state.final{border-style:double;border-width:3px}
.state .name{color:var(--dim);font-size:12px}.state .count{font-size:28px;font-weight:600}
.state .children{display:flex;flex-direction:column;gap:8px;margin-top:6px}
.state.hot{border-color:var(--acc)}
.edges{margin-top:10px;font:12px ui-monospace,SFMono-Regular,Menlo,monospace;color:var(--dim);columns:2}
table{width:100%;border-collapse:collapse;font-size:13px}td,th{padding:3px 6px;text-align:left;border-bottom:1px solid var(--line)}
th{color:var(--dim);font-weight:500}td.n{text-align:right;font-variant-numeric:tabular-nums}
.events{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;max-height:340px;overflow:auto}
</style></head>
<body>
<header><h1>Voltlane edge</h1>
<span class="pill">master link: <b id="master">…</b></span>
<span class="pill">ready: <b id="ready">…</b></span>
<span class="pill">sessions: <b id="total">…</b></span>
<span class="pill">handshaking: <b id="handshaking">…</b></span>
<span id="updated" style="color:var(--dim);margin-left:auto"></span></header>
<main>
<section><h2>Session machine (live counts)</h2><div class="machine" id="machine"></div><div class="edges" id="edges"></div></section>
<section><h2>Last minute</h2><table id="rates"></table><h2 style="margin-top:14px">Totals</h2><table id="totals"></table></section>
<section style="grid-column:1/-1"><h2>Latest lifecycle events</h2><div class="events"><table id="events"></table></div></section>
</main>
<script>
'use strict';
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
let drawn = false;
function drawMachine(m) {
  const box = (s) => {
    const kids = s.children.length ? '<div class="children">' + s.children.map(box).join('') + '</div>' : '';
    const cls = 'state' + (s.children.length ? ' compound' : '') + (s.type === 'final' ? ' final' : '');
    const count = s.children.length ? '' : '<div class="count" data-state="' + esc(s.path) + '">0</div>';
    return '<div class="' + cls + '" data-box="' + esc(s.path) + '"><div class="name">' + esc(s.key) + '</div>' + count + kids + '</div>';
  };
  $('machine').innerHTML = m.root.children.map(box).join('');
  const lines = [];
  const walk = (s) => {
    for (const t of s.transitions) if (t.target !== null) lines.push(esc(s.path) + ' → ' + esc(t.target) + ' : ' + esc(t.event) + (t.guard ? ' [' + esc(t.guard) + ']' : ''));
    s.children.forEach(walk);
  };
  walk(m.root);
  $('edges').innerHTML = lines.map((l) => '<div>' + l + '</div>').join('');
  drawn = true;
}
function rows(obj) {
  return Object.entries(obj).map(([k, v]) => '<tr><td>' + esc(k) + '</td><td class="n">' + esc(v) + '</td></tr>').join('');
}
async function tick() {
  try {
    const s = await (await fetch('status.json', { cache: 'no-store' })).json();
    if (!drawn) drawMachine(s.machine);
    for (const el of document.querySelectorAll('[data-state]')) {
      const n = s.sessions[el.dataset.state] ?? 0;
      el.textContent = n;
      el.parentElement.classList.toggle('hot', n > 0);
    }
    const reaped = document.querySelector('[data-state="reaped"]');
    if (reaped) reaped.textContent = s.totals.reaped;
    $('master').textContent = s.master.state + (s.master.lastError ? ' (' + s.master.lastError + ')' : '');
    $('master').className = s.master.state === 'connected' ? 'ok' : 'bad';
    $('ready').textContent = s.ready.ok ? 'yes' : 'no: ' + s.ready.reason;
    $('ready').className = s.ready.ok ? 'ok' : 'bad';
    $('total').textContent = s.totalSessions;
    $('handshaking').textContent = s.handshaking;
    $('rates').innerHTML = rows(s.lastMinute);
    $('totals').innerHTML = rows(s.totals);
    $('events').innerHTML = '<tr><th>time</th><th>event</th><th>session</th><th>reason</th></tr>' + s.recent.slice().reverse().map((e) =>
      '<tr><td>' + new Date(e.at).toISOString().slice(11, 23) + '</td><td>' + esc(e.type) + '</td><td>' + esc(e.sessionId ?? '') + '</td><td>' + esc(e.reason ?? '') + '</td></tr>').join('');
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (err) {
    $('updated').textContent = 'edge unreachable: ' + err;
  }
}
tick();
setInterval(tick, 1000);
</script></body></html>
`;
