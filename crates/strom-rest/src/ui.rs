//! The web UI: one embedded page that polls the REST API (no assets fetched from outside).

use axum::response::Html;

pub(crate) async fn index() -> Html<&'static str> {
    Html(PAGE)
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>strom</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2330;color:#fff;padding:12px 24px;font-size:20px}
main{padding:16px 24px}
section{background:#fff;border-radius:6px;box-shadow:0 1px 3px #0002;padding:12px 16px;margin-bottom:16px}
h2{font-size:16px;margin:0 0 8px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#eef1f6;border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:22px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e3e6eb}
.RUNNING{color:#1769aa}.FINISHED{color:#2e7d32}.FAILED{color:#c62828}.CANCELED{color:#777}
textarea{width:100%;height:120px;font-family:monospace}
#msg{font-size:13px;color:#c62828}
</style></head><body>
<header>strom <small id="version"></small></header>
<main>
<section><h2>Overview</h2><div class="cards" id="overview"></div></section>
<section><h2>TaskManagers</h2><table><thead><tr><th>id</th><th>host</th><th>slots</th><th>free</th><th>memory</th><th>heartbeat age</th></tr></thead><tbody id="tms"></tbody></table></section>
<section><h2>Jobs</h2><table><thead><tr><th>id</th><th>name</th><th>state</th><th>duration</th><th>tasks</th><th></th></tr></thead><tbody id="jobs"></tbody></table></section>
<section><h2>Submit a job graph</h2><textarea id="graph" placeholder='{"version": 1, "job": {...}}'></textarea>
<button onclick="submitJob()">Submit</button> <span id="msg"></span></section>
</main>
<script>
const esc = s => String(s ?? '').replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
async function get(path) { const r = await fetch(path); return r.json(); }
async function refresh() {
  try {
    const o = await get('/overview');
    document.getElementById('version').textContent = o['strom-version'];
    document.getElementById('overview').innerHTML = [['TaskManagers', o.taskmanagers], ['Slots', o['slots-total']],
      ['Free slots', o['slots-available']], ['Running jobs', o['jobs-running']], ['Finished', o['jobs-finished']],
      ['Failed', o['jobs-failed']], ['Cancelled', o['jobs-cancelled']]]
      .map(([k, v]) => `<div class="card">${k}<b>${v}</b></div>`).join('');
    const t = await get('/taskmanagers');
    document.getElementById('tms').innerHTML = t.taskmanagers.slice(0, 200).map(m => `<tr><td>${esc(m.id)}</td><td>${esc(m.host)}</td>
      <td>${m.slotsNumber}</td><td>${m.freeSlots}</td><td>${Math.round(m.memoryConfiguration.totalProcessMemory / 1048576)} MiB</td>
      <td>${Math.max(0, Date.now() - m.timeSinceLastHeartbeat)} ms</td></tr>`).join('');
    const j = await get('/jobs/overview');
    document.getElementById('jobs').innerHTML = j.jobs.slice(0, 200).map(x => `<tr><td>${x.jid}</td><td>${esc(x.name)}</td>
      <td class="${x.state}">${x.state}</td><td>${Math.round(x.duration / 100) / 10} s</td><td>${x.tasks.running}/${x.tasks.total} running</td>
      <td>${['FINISHED', 'FAILED', 'CANCELED'].includes(x.state) ? '' : `<button onclick="cancelJob('${x.jid}')">Cancel</button>`}</td></tr>`).join('');
  } catch (e) { document.getElementById('msg').textContent = 'cannot reach the JobManager: ' + e; }
}
// Mutating calls carry the REST auth token when the cluster asks for one (401).
async function authorized(path, init) {
  const headers = Object.assign({}, init.headers || {});
  let token = sessionStorage.getItem('strom-token');
  if (token) headers['authorization'] = 'Bearer ' + token;
  let r = await fetch(path, Object.assign({}, init, {headers}));
  if (r.status === 401) {
    token = prompt('REST auth token (rest.auth.token)');
    if (token) {
      sessionStorage.setItem('strom-token', token);
      headers['authorization'] = 'Bearer ' + token;
      r = await fetch(path, Object.assign({}, init, {headers}));
    }
  }
  return r;
}
async function cancelJob(id) { await authorized('/jobs/' + id + '?mode=cancel', {method: 'PATCH'}); refresh(); }
async function submitJob() {
  const r = await authorized('/jobs', {method: 'POST', headers: {'content-type': 'application/json'}, body: document.getElementById('graph').value});
  const body = await r.json();
  document.getElementById('msg').textContent = r.ok ? 'submitted ' + body.jobid : body.errors.join('; ');
  refresh();
}
refresh(); setInterval(refresh, 2000);
</script></body></html>"#;
