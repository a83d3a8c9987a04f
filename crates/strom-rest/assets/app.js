// strom's web UI: a hash-routed single page over the REST API (no external assets).
// Each view renders its frame once when opened and then refreshes only its data every 2 s,
// so inputs, filters and pages keep their state. Lists are paged: a cluster with hundreds of
// jobs or TaskManagers renders as fast as one with three.
'use strict';

const REFRESH_MS = 2000;
const PAGE_SIZE = 20;

// ---- helpers --------------------------------------------------------------------------------

const $ = (sel, root = document) => root.querySelector(sel);
const esc = s => String(s ?? '').replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const num = n => (n === undefined || n === null || n < 0) ? '–' : Number(n).toLocaleString('en-US');
const rate = n => n === undefined || n === null ? '–' : (n >= 1e6 ? (n / 1e6).toFixed(2) + ' M/s' : n >= 1e3 ? (n / 1e3).toFixed(1) + ' k/s' : n.toFixed(0) + ' /s');
function bytes(n) {
  if (n === undefined || n === null || n < 0) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
}
function duration(ms) {
  if (ms === undefined || ms === null || ms < 0) return '–';
  if (ms < 1000) return ms + ' ms';
  const s = Math.floor(ms / 1000);
  if (s < 60) return (ms / 1000).toFixed(1) + ' s';
  const m = Math.floor(s / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
  if (d > 0) return `${d}d ${h % 24}h`;
  if (h > 0) return `${h}h ${m % 60}m`;
  return `${m}m ${s % 60}s`;
}
const time = ms => ms > 0 ? new Date(ms).toLocaleString('en-GB', { hour12: false }) : '–';
const state = s => `<span class="state ${esc(s)}" data-state="${esc(s)}">${esc(s)}</span>`;
const TERMINAL = ['FINISHED', 'FAILED', 'CANCELED'];

async function api(path, init) {
  const r = await fetch(path, init);
  const text = await r.text();
  let body = text;
  try { body = text ? JSON.parse(text) : {}; } catch (_) { /* text answers (logs) */ }
  if (!r.ok) {
    const message = body && body.errors ? body.errors.join('; ') : `${r.status} ${r.statusText}`;
    const e = new Error(message);
    e.status = r.status;
    throw e;
  }
  return body;
}

// Mutating calls carry the REST auth token when the cluster asks for one (401).
async function authorized(path, init) {
  const headers = Object.assign({}, init.headers || {});
  let token = sessionStorage.getItem('strom-token');
  if (token) headers.authorization = 'Bearer ' + token;
  try {
    return await api(path, Object.assign({}, init, { headers }));
  } catch (e) {
    if (e.status !== 401) throw e;
    token = prompt('REST auth token (rest.auth.token)');
    if (!token) throw e;
    sessionStorage.setItem('strom-token', token);
    headers.authorization = 'Bearer ' + token;
    return api(path, Object.assign({}, init, { headers }));
  }
}

// A paged, filtered table: `rows` are data, `columns` say how to show them.
function pagedTable(id, rows, columns, opts = {}) {
  const pageState = (pagedTable.pages[id] = pagedTable.pages[id] || { page: 0 });
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  pageState.page = Math.min(pageState.page, pages - 1);
  const shown = rows.slice(pageState.page * PAGE_SIZE, (pageState.page + 1) * PAGE_SIZE);
  const head = columns.map(c => `<th class="${c.num ? 'num' : ''}">${esc(c.title)}</th>`).join('');
  const body = shown.map(r => {
    const link = opts.link ? opts.link(r) : null;
    const cells = columns.map(c => `<td class="${c.num ? 'num' : ''} ${c.cls || ''}">${c.html(r)}</td>`).join('');
    return `<tr${link ? ` class="clickable" data-href="${esc(link)}"` : ''}>${cells}</tr>`;
  }).join('') || `<tr><td colspan="${columns.length}" class="muted">${esc(opts.empty || 'nothing yet')}</td></tr>`;
  const pager = rows.length > PAGE_SIZE
    ? `<div class="pager" data-pager="${esc(id)}"><button data-page="${pageState.page - 1}" ${pageState.page === 0 ? 'disabled' : ''}>‹ Prev</button>
       <span>page ${pageState.page + 1} of ${pages} · ${rows.length} rows</span>
       <button data-page="${pageState.page + 1}" ${pageState.page >= pages - 1 ? 'disabled' : ''}>Next ›</button></div>`
    : `<div class="pager"><span>${rows.length} row${rows.length === 1 ? '' : 's'}</span></div>`;
  return `<table data-table="${esc(id)}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>${pager}`;
}
pagedTable.pages = {};

document.addEventListener('click', ev => {
  const pageButton = ev.target.closest('[data-pager] button[data-page]');
  if (pageButton) {
    const id = pageButton.parentElement.dataset.pager;
    pagedTable.pages[id].page = Number(pageButton.dataset.page);
    refresh();
    return;
  }
  if (ev.target.closest('button, a, input, select')) return;
  const row = ev.target.closest('tr[data-href]');
  if (row) location.hash = row.dataset.href;
});

function setStatus(ok, text) {
  const el = $('#status');
  el.textContent = text;
  el.classList.toggle('down', !ok);
}

// ---- views ----------------------------------------------------------------------------------

const views = {};

views.overview = {
  frame: () => `<h1>Cluster overview</h1>
    <section><div class="cards" id="overview-cards"></div><p class="muted" id="overview-version"></p></section>
    <section><h2>Running jobs</h2><div id="overview-jobs"></div></section>`,
  async update() {
    const [o, jobs] = await Promise.all([api('/overview'), api('/jobs/overview')]);
    const cards = [['TaskManagers', o.taskmanagers], ['Task slots', o['slots-total']], ['Free slots', o['slots-available']],
      ['Pending workers', o['workers-pending']], ['Running jobs', o['jobs-running']], ['Finished', o['jobs-finished']],
      ['Failed', o['jobs-failed']], ['Cancelled', o['jobs-cancelled']]];
    $('#overview-cards').innerHTML = cards.map(([k, v]) => `<div class="card" data-card="${esc(k)}">${esc(k)}<b>${num(v)}</b></div>`).join('');
    $('#overview-version').textContent = `strom ${o['strom-version']} · resource manager: ${o['resource-manager-driver']}`;
    const running = jobs.jobs.filter(j => !TERMINAL.includes(j.state)).sort((a, b) => b['start-time'] - a['start-time']);
    $('#overview-jobs').innerHTML = pagedTable('overview-jobs', running, jobColumns(false), { link: j => '#/jobs/' + j.jid, empty: 'no job is running' });
  },
};

function jobColumns(withActions) {
  const cols = [
    { title: 'Name', html: j => `<a href="#/jobs/${j.jid}">${esc(j.name)}</a>` },
    { title: 'Job id', html: j => `<span class="mono">${esc(j.jid)}</span>` },
    { title: 'State', html: j => state(j.state) },
    { title: 'Started', html: j => time(j['start-time']) },
    { title: 'Duration', num: true, html: j => duration(j.duration) },
    { title: 'Tasks running', num: true, html: j => `${j.tasks.running}/${j.tasks.total}` },
    { title: 'Restarts', num: true, html: j => num(j.restarts) },
  ];
  if (withActions) {
    cols.push({ title: '', html: j => TERMINAL.includes(j.state) ? '' : `<button class="danger" data-cancel="${j.jid}">Cancel</button>` });
  }
  return cols;
}

document.addEventListener('click', async ev => {
  const b = ev.target.closest('button[data-cancel]');
  if (!b) return;
  b.disabled = true;
  try {
    await authorized('/jobs/' + b.dataset.cancel + '?mode=cancel', { method: 'PATCH' });
    flash('cancelling job ' + b.dataset.cancel, true);
  } catch (e) {
    flash('cannot cancel: ' + e.message, false);
  }
  refresh();
});

function flash(text, ok) {
  const el = $('#flash');
  if (!el) return;
  el.className = 'msg ' + (ok ? 'ok' : 'error');
  el.textContent = text;
}

views.jobs = {
  frame: () => `<h1>Jobs</h1><section>
    <div class="toolbar"><input id="jobs-filter" placeholder="filter by name or id" size="30">
      <select id="jobs-state"><option value="">every state</option><option>RUNNING</option><option>CREATED</option>
        <option>RESTARTING</option><option>FINISHED</option><option>FAILED</option><option>CANCELED</option></select>
      <span class="grow"></span><a href="#/submit"><button class="primary">Submit a job</button></a></div>
    <div id="jobs-table"></div><div id="flash" class="msg"></div></section>`,
  mount() {
    $('#jobs-filter').addEventListener('input', refresh);
    $('#jobs-state').addEventListener('change', refresh);
  },
  async update() {
    const jobs = (await api('/jobs/overview')).jobs;
    const filter = $('#jobs-filter').value.toLowerCase();
    const wanted = $('#jobs-state').value;
    const rows = jobs
      .filter(j => (!wanted || j.state === wanted) && (!filter || j.name.toLowerCase().includes(filter) || j.jid.includes(filter)))
      .sort((a, b) => b['start-time'] - a['start-time']);
    $('#jobs-table').innerHTML = pagedTable('jobs', rows, jobColumns(true), { link: j => '#/jobs/' + j.jid, empty: 'no jobs' });
  },
};

// Rates are computed here from successive samples of the counters, at least 1.5 s apart so
// that a refresh right after navigation does not divide by a tiny interval.
const samples = {};
function rates(jobId, vertices, now) {
  const prev = samples[jobId];
  if (prev && now - prev.t < 1500) return prev.rates;
  const current = { t: now, v: {}, rates: {} };
  for (const v of vertices) {
    const m = v.metrics;
    const c = { i: m['read-records'], o: m['write-records'], bp: m['accumulated-backpressured-time'], busy: m['accumulated-busy-time'] };
    current.v[v.id] = c;
    const p = prev && prev.v[v.id];
    if (p) {
      const dt = (now - prev.t) / 1000;
      const span = dt * 1000 * Math.max(1, v.parallelism);
      current.rates[v.id] = {
        t: now,
        in: Math.max(0, c.i - p.i) / dt,
        out: Math.max(0, c.o - p.o) / dt,
        bp: Math.min(1, Math.max(0, c.bp - p.bp) / span),
        busy: Math.min(1, Math.max(0, c.busy - p.busy) / span),
      };
    }
  }
  samples[jobId] = current;
  return current.rates;
}

// Trends: the last five minutes of each vertex's rates, backpressure, busy time and watermark
// lag, one sample per rate computed above, drawn as sparklines (people read trends, not
// numbers). Kept in the page only: a reload starts them again.
const TREND_MS = 5 * 60 * 1000;
const trends = {};
function remember(jobId, vertices, vrates, now, jobNow) {
  const job = (trends[jobId] = trends[jobId] || {});
  for (const v of vertices) {
    const r = vrates[v.id];
    if (!r) continue;
    const list = (job[v.id] = job[v.id] || []);
    if (list.length && list[list.length - 1].t === r.t) continue;
    list.push({ t: r.t, in: r.in, out: r.out, bp: r.bp, busy: r.busy, lag: v.watermark ? Math.max(0, jobNow - v.watermark) : null });
    while (list.length && now - list[0].t > TREND_MS) list.shift();
  }
}
function spark(points, key, max) {
  const values = (points || []).map(p => p[key]).filter(x => x !== null && x !== undefined);
  if (values.length < 2) return '';
  const top = max || Math.max(...values) || 1;
  const step = 100 / (values.length - 1);
  const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(19.5 - Math.min(1, v / top) * 19).toFixed(1)}`).join(' ');
  return `<svg class="spark" data-trend="${key}" viewBox="0 0 100 20" preserveAspectRatio="none"><title>${key}, last ${Math.round((points[points.length - 1].t - points[0].t) / 1000)} s</title><polyline points="${pts}"/></svg>`;
}

// Checkpoint durations, oldest to newest, as bars (completed: duration; failed: a red mark).
function checkpointChart(history) {
  const list = history.filter(h => h.status !== 'IN_PROGRESS').sort((a, b) => a.id - b.id).slice(-60);
  if (!list.length) return '<p class="muted">no checkpoints yet</p>';
  const top = Math.max(1, ...list.map(h => h.end_to_end_duration || 0));
  const w = 600 / list.length;
  const bars = list.map((h, i) => {
    const failed = h.status === 'FAILED';
    const height = failed ? 80 : Math.max(1, (h.end_to_end_duration || 0) / top * 78);
    return `<rect class="${failed ? 'failed' : 'done'}" x="${(i * w + w * 0.1).toFixed(1)}" y="${(80 - height).toFixed(1)}" width="${(w * 0.8).toFixed(1)}" height="${height.toFixed(1)}"><title>#${h.id} ${failed ? 'failed' : duration(h.end_to_end_duration)}</title></rect>`;
  }).join('');
  return `<svg id="checkpoint-chart" viewBox="0 0 600 80" preserveAspectRatio="none">${bars}</svg>
    <p class="muted">last ${list.length} checkpoints · longest ${duration(top)}</p>`;
}

function layout(nodes) {
  // Layers by longest path from a source, then vertices in input order within a layer.
  const byId = Object.fromEntries(nodes.map(n => [n.id, n]));
  const level = {};
  const depth = (id, seen = new Set()) => {
    if (level[id] !== undefined) return level[id];
    if (seen.has(id)) return 0;
    seen.add(id);
    const inputs = (byId[id] && byId[id].inputs) || [];
    level[id] = inputs.length ? 1 + Math.max(...inputs.map(i => depth(i.id, seen))) : 0;
    return level[id];
  };
  nodes.forEach(n => depth(n.id));
  const columns = [];
  nodes.forEach(n => { (columns[level[n.id]] = columns[level[n.id]] || []).push(n.id); });
  const W = 230, H = 64, GX = 90, GY = 28;
  const pos = {};
  columns.forEach((col, x) => col.forEach((id, y) => { pos[id] = { x: 16 + x * (W + GX), y: 16 + y * (H + GY) }; }));
  const width = 32 + columns.length * (W + GX) - GX;
  const height = 32 + Math.max(...columns.map(c => c.length)) * (H + GY) - GY;
  return { pos, W, H, width, height };
}

function drawGraph(plan, vertices, vrates) {
  const nodes = plan.nodes || [];
  if (!nodes.length) return '<p class="muted">no vertices</p>';
  const { pos, W, H, width, height } = layout(nodes);
  const byId = Object.fromEntries(vertices.map(v => [v.id, v]));
  let edges = '';
  for (const n of nodes) {
    for (const input of n.inputs || []) {
      const a = pos[input.id], b = pos[n.id];
      if (!a || !b) continue;
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x - 6, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
      const label = input.ship_strategy + (input.key && input.key.length ? `(${input.key.join(', ')})` : '');
      edges += `<g class="edge" data-edge="${esc(input.id)}->${esc(n.id)}"><path d="M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}" marker-end="url(#arrow)"/>
        <text x="${mx}" y="${(y1 + y2) / 2 - 6}" text-anchor="middle">${esc(label)}</text></g>`;
    }
  }
  const boxes = nodes.map(n => {
    const p = pos[n.id], v = byId[n.id] || {}, r = vrates[n.id];
    const name = (v.name || n.description || n.id);
    const short = name.length > 32 ? name.slice(0, 31) + '…' : name;
    const flow = r ? `${rate(r.out)} out` : `${num(v.metrics && v.metrics['write-records'])} out`;
    return `<g class="node ${esc(v.status || '')}" data-vertex="${esc(n.id)}" transform="translate(${p.x},${p.y})">
      <title>${esc(name)}</title><rect width="${W}" height="${H}"></rect>
      <text x="10" y="20">${esc(short)}</text>
      <text class="sub" x="10" y="38">${esc(n.operator)} · parallelism ${n.parallelism}</text>
      <text class="sub" x="10" y="54">${esc(v.status || '')} · ${esc(flow)}</text></g>`;
  }).join('');
  return `<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="job graph">
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse">
    <path d="M0,0 L10,5 L0,10 z" fill="#9aa4b8"/></marker></defs>${edges}${boxes}</svg>`;
}

const bar = f => f === undefined ? '–' : `<span class="bar"><i style="width:${Math.round(f * 100)}%"></i></span>${Math.round(f * 100)}%`;

views.job = {
  frame: ([id, tab]) => `<h1 id="job-title">Job <span class="mono">${esc(id)}</span></h1>
    <section><div class="toolbar"><div id="job-head" class="grow"></div>
      <button id="job-savepoint">Trigger savepoint</button><button class="danger" id="job-cancel" data-cancel="${esc(id)}">Cancel job</button></div>
      <div id="flash" class="msg"></div></section>
    <div class="tabs">${['overview', 'exceptions', 'checkpoints', 'configuration'].map(t =>
      `<a href="#/jobs/${esc(id)}/${t}" class="${(tab || 'overview') === t ? 'active' : ''}" data-tab="${t}">${t[0].toUpperCase() + t.slice(1)}</a>`).join('')}</div>
    <div id="job-body"></div>`,
  mount([id]) {
    $('#job-savepoint').addEventListener('click', async () => {
      try {
        const r = await authorized(`/jobs/${id}/savepoints`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"cancel-job": false}' });
        flash('savepoint requested (' + r['request-id'] + ')', true);
      } catch (e) { flash('cannot trigger a savepoint: ' + e.message, false); }
    });
  },
  async update([id, tab]) {
    const job = await api('/jobs/' + id);
    const ended = TERMINAL.includes(job.state);
    $('#job-title').innerHTML = `${esc(job.name)} <small class="muted mono">${esc(job.jid)}</small>`;
    $('#job-head').innerHTML = `${state(job.state)} &nbsp; started ${time(job['start-time'])} · running for ${duration(job.duration)}
      · ${job['job-type'].toLowerCase()} · restarts ${num(job.restarts)}`;
    $('#job-cancel').style.display = ended ? 'none' : '';
    $('#job-savepoint').style.display = ended ? 'none' : '';
    const body = $('#job-body');
    switch (tab || 'overview') {
      case 'overview': {
        const vr = rates(job.jid, job.vertices, Date.now());
        remember(job.jid, job.vertices, vr, Date.now(), job.now);
        const rows = job.vertices.map(v => {
          const r = vr[v.id] || {};
          const tr = (trends[job.jid] || {})[v.id];
          const lag = v.watermark ? duration(Math.max(0, job.now - v.watermark)) : '–';
          return `<tr data-vertex-row="${esc(v.id)}"><td class="wrap">${esc(v.name)}</td><td>${state(v.status)}</td><td class="num">${v.parallelism}</td>
            <td class="num">${num(v.metrics['read-records'])}</td><td class="num">${num(v.metrics['write-records'])}</td>
            <td class="num">${rate(r.in)}${spark(tr, 'in')}</td><td class="num">${rate(r.out)}${spark(tr, 'out')}</td>
            <td>${bar(r.bp)}${spark(tr, 'bp', 1)}</td><td>${bar(r.busy)}${spark(tr, 'busy', 1)}</td>
            <td class="num">${lag}${spark(tr, 'lag')}</td><td class="num">${bytes(v.metrics['read-bytes'])}</td><td class="num">${bytes(v.metrics['write-bytes'])}</td></tr>`;
        }).join('');
        const subtasks = job.vertices.map(v => v.subtasks.map(s => ({ vertex: v.name, ...s }))).flat();
        body.innerHTML = `<section class="graph"><h2>Job graph</h2>${drawGraph(job.plan, job.vertices, vr)}</section>
          <section><h2>Vertices</h2><table id="vertices"><thead><tr><th>Name</th><th>Status</th><th class="num">Parallelism</th>
            <th class="num">Records in</th><th class="num">Records out</th><th class="num">In rate</th><th class="num">Out rate</th>
            <th>Backpressure</th><th>Busy</th><th class="num">Watermark lag</th><th class="num">Bytes in</th><th class="num">Bytes out</th></tr></thead>
            <tbody>${rows}</tbody></table></section>
          <section><h2>Subtasks</h2>${pagedTable('subtasks-' + id, subtasks, [
            { title: 'Vertex', cls: 'wrap', html: s => esc(s.vertex) }, { title: 'Subtask', num: true, html: s => s.subtask },
            { title: 'Status', html: s => state(s.status) },
            { title: 'TaskManager', html: s => s['taskmanager-id'] ? `<a href="#/taskmanagers/${encodeURIComponent(s['taskmanager-id'])}">${esc(s['taskmanager-id'])}</a>` : '–' },
            { title: 'Records in', num: true, html: s => num(s['read-records']) }, { title: 'Records out', num: true, html: s => num(s['write-records']) },
            { title: 'Backpressured', num: true, html: s => duration(s['accumulated-backpressured-time']) }])}</section>`;
        break;
      }
      case 'exceptions': {
        const ex = await api(`/jobs/${id}/exceptions`);
        const entries = ex.exceptionHistory.entries;
        body.innerHTML = `<section><h2>Root cause</h2>${ex['root-exception'] ? `<pre class="log" id="root-exception">${esc(ex['root-exception'])}</pre>` : '<p class="muted" id="root-exception">no failure</p>'}</section>
          <section><h2>Exception history</h2>${pagedTable('exceptions-' + id, entries, [
            { title: 'Time', html: e => time(e.timestamp) }, { title: 'Task', cls: 'wrap', html: e => esc(e.taskName || '–') },
            { title: 'TaskManager', html: e => esc(e.taskManagerId || '–') }, { title: 'Message', cls: 'wrap mono', html: e => esc(e.stacktrace) }], { empty: 'no exceptions' })}</section>`;
        break;
      }
      case 'checkpoints': {
        const [cp, cfg] = await Promise.all([api(`/jobs/${id}/checkpoints`), api(`/jobs/${id}/checkpoints/config`).catch(() => null)]);
        const c = cp.counts, latest = cp.latest && cp.latest.completed;
        const cards = [['Completed', c.completed], ['Failed', c.failed], ['In progress', c.in_progress], ['Restored', c.restored]];
        const mode = cfg ? (cfg.interval > 0 && cfg.interval < 1e15 ? `every ${duration(cfg.interval)} · ${esc(cfg.mode || '')}` : 'checkpointing is off') : '';
        body.innerHTML = `<section><h2>Checkpoints</h2><div class="cards" id="checkpoint-counts">${cards.map(([k, v]) => `<div class="card">${k}<b>${num(v)}</b></div>`).join('')}
            <div class="card">Latest<b>${latest ? '#' + latest.id : '–'}</b><small>${latest ? duration(latest.end_to_end_duration) + ' · ' + bytes(latest.state_size) : ''}</small></div></div>
            <p class="muted">${mode}${cp.latest && cp.latest.restored ? ` · restored from #${cp.latest.restored.id}` : ''}</p></section>
          <section><h2>Duration</h2>${checkpointChart(cp.history)}</section>
          <section><h2>History</h2>${pagedTable('checkpoints-' + id, cp.history, [
            { title: 'Id', num: true, html: h => '#' + h.id }, { title: 'Status', html: h => state(h.status) },
            { title: 'Type', html: h => esc(h.checkpoint_type) }, { title: 'Triggered', html: h => time(h.trigger_timestamp) },
            { title: 'Duration', num: true, html: h => duration(h.end_to_end_duration) }, { title: 'State size', num: true, html: h => bytes(h.state_size) },
            { title: 'Acknowledged', num: true, html: h => `${h.num_acknowledged_subtasks}/${h.num_subtasks}` },
            { title: 'Detail', cls: 'wrap mono', html: h => esc(h.failure_message || h.external_path || '') }], { empty: 'no checkpoints yet' })}</section>`;
        break;
      }
      case 'configuration': {
        const cfg = await api(`/jobs/${id}/config`);
        const entries = Object.entries(cfg['execution-config']['user-config'] || {}).map(([key, value]) => ({ key, value }));
        body.innerHTML = `<section><h2>Job configuration</h2>${pagedTable('jobconfig-' + id, entries, [
          { title: 'Key', cls: 'mono', html: e => esc(e.key) }, { title: 'Value', cls: 'mono wrap', html: e => esc(e.value) }], { empty: 'the job sets no options' })}</section>`;
        break;
      }
    }
  },
};

views.taskmanagers = {
  frame: () => `<h1>TaskManagers</h1><section><div class="toolbar"><input id="tm-filter" placeholder="filter by id or host" size="30"></div>
    <div id="tm-table"></div></section>`,
  mount() { $('#tm-filter').addEventListener('input', refresh); },
  async update() {
    const tms = (await api('/taskmanagers')).taskmanagers;
    const filter = $('#tm-filter').value.toLowerCase();
    const rows = tms.filter(t => !filter || t.id.toLowerCase().includes(filter) || t.host.toLowerCase().includes(filter))
      .sort((a, b) => a.id.localeCompare(b.id));
    const now = Date.now();
    $('#tm-table').innerHTML = pagedTable('taskmanagers', rows, [
      { title: 'Id', html: t => `<a href="#/taskmanagers/${encodeURIComponent(t.id)}">${esc(t.id)}</a>` },
      { title: 'Host', html: t => esc(t.host) },
      { title: 'Mesos task', html: t => esc(t.mesosTaskId || '–') },
      { title: 'Agent host', html: t => esc(t.mesosAgentHost || '–') },
      { title: 'Slots free/total', num: true, html: t => `${t.freeSlots}/${t.slotsNumber}` },
      { title: 'Memory', num: true, html: t => bytes(t.memoryConfiguration.totalProcessMemory) },
      { title: 'Heartbeat age', num: true, html: t => duration(Math.max(0, now - t.timeSinceLastHeartbeat)) },
      { title: 'Metrics port', num: true, html: t => t.metricsPort ? t.metricsPort : '–' },
    ], { link: t => '#/taskmanagers/' + encodeURIComponent(t.id), empty: 'no TaskManager registered' });
  },
};

views.taskmanager = {
  frame: ([id]) => `<h1>TaskManager <span class="mono">${esc(decodeURIComponent(id))}</span></h1>
    <section><div id="tm-props"></div></section>
    <section><div class="toolbar"><h2 class="grow">Log (newest lines)</h2>
      <label><input type="checkbox" id="log-follow"> follow</label><button id="log-refresh">Refresh log</button></div>
      <pre class="log" id="tm-log">loading…</pre></section>`,
  mount([id]) {
    const load = async () => {
      const el = $('#tm-log');
      try {
        const text = await api(`/taskmanagers/${id}/log`);
        const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
        el.textContent = typeof text === 'string' ? (text || '(empty)') : JSON.stringify(text);
        if (atBottom || !views.taskmanager.loaded) el.scrollTop = el.scrollHeight;
        views.taskmanager.loaded = true;
      } catch (e) { el.textContent = 'cannot fetch the log: ' + e.message; }
    };
    views.taskmanager.loaded = false;
    views.taskmanager.loadLog = load;
    $('#log-refresh').addEventListener('click', load);
    load();
  },
  async update([id]) {
    const t = await api('/taskmanagers/' + id);
    const labels = Object.entries(t.labels || {}).map(([k, v]) => `${esc(k)}=${esc(v)}`).join(', ') || '–';
    $('#tm-props').innerHTML = `<dl class="props">
      <dt>Host</dt><dd>${esc(t.host)} (data port ${t.dataPort})</dd><dt>Process</dt><dd>pid ${t.pid}</dd>
      <dt>Mesos task</dt><dd>${esc(t.mesosTaskId || '–')}</dd><dt>Agent host</dt><dd>${esc(t.mesosAgentHost || '–')}</dd>
      <dt>Slots</dt><dd>${t.freeSlots} free of ${t.slotsNumber}</dd><dt>Process memory</dt><dd>${bytes(t.memoryConfiguration.totalProcessMemory)}</dd>
      <dt>Host hardware</dt><dd>${t.hardware.cpuCores} cores · ${bytes(t.hardware.physicalMemory)} (${bytes(t.hardware.freeMemory)} free)</dd>
      <dt>Registered</dt><dd>${time(t.registered)}</dd><dt>Last heartbeat</dt><dd>${duration(Math.max(0, Date.now() - t.timeSinceLastHeartbeat))} ago</dd>
      <dt>Metrics</dt><dd>${t.metricsPort ? `Prometheus on ${esc(t.host)}:${t.metricsPort}/metrics` : 'reporter off (metrics.reporter.prom.port)'}</dd>
      <dt>Labels</dt><dd class="mono">${labels}</dd></dl>`;
    if ($('#log-follow').checked && views.taskmanager.loadLog) await views.taskmanager.loadLog();
  },
};

views.resourcemanager = {
  frame: () => `<h1>Resource manager</h1><div id="rm-body"></div>`,
  async update() {
    const rm = await api('/mesos');
    const body = $('#rm-body');
    if (rm.driver !== 'mesos') {
      const facts = Object.entries(rm).map(([k, v]) => `<dt>${esc(k)}</dt><dd class="mono">${esc(typeof v === 'object' ? JSON.stringify(v) : v)}</dd>`).join('');
      body.innerHTML = `<section><h2>Driver: ${esc(rm.driver || 'unknown')}</h2><p class="muted">TaskManagers are started by this process;
        the Mesos scheduler view appears when the cluster runs on Mesos (strom mesos-appmaster).</p><dl class="props">${facts}</dl></section>`;
      return;
    }
    const ws = rm['worker-states'] || {}, offers = rm.offers || {};
    const cards = [['New', ws.New], ['Launched', ws.Launched], ['Released', ws.Released], ['Pending launches', rm['pending-launches']], ['Offers received', offers.received], ['Accepted', offers.accepted], ['Declined', offers.declined]];
    body.innerHTML = `<section><h2>Mesos scheduler</h2><dl class="props">
        <dt>Master</dt><dd class="mono">${esc(rm.master)}</dd><dt>Framework id</dt><dd class="mono" id="framework-id">${esc(rm['framework-id'] || '(not registered yet)')}</dd>
        <dt>Connection</dt><dd>${state(rm.connection)}</dd></dl>
        <div class="cards" style="margin-top:12px" id="mesos-cards">${cards.map(([k, v]) => `<div class="card">${k}<b>${num(v)}</b></div>`).join('')}</div></section>
      ${(rm['unsatisfied-requests'] || []).length ? `<section id="mesos-unsatisfied"><h2>Requests no offer fits</h2>
        <p class="muted">Offers that cannot host these TaskManagers are declined at once; the job fails after slot.request.timeout.</p>
        ${pagedTable('mesos-unsatisfied-table', rm['unsatisfied-requests'], [
          { title: 'Task id', cls: 'mono', html: u => esc(u['task-id']) },
          { title: 'Why, per agent', cls: 'wrap', html: u => (u.reasons || []).map(esc).join('<br>') }])}</section>` : ''}
      <section><h2>Workers</h2>${pagedTable('mesos-workers', (rm.workers || []).slice().sort((a, b) => a['task-id'].localeCompare(b['task-id'])), [
        { title: 'Task id', cls: 'mono', html: w => esc(w['task-id']) }, { title: 'Worker state', html: w => state(w.state) },
        { title: 'Mesos task state', html: w => esc(w['mesos-state'] || '–') }, { title: 'Agent host', html: w => esc(w.hostname || '–') }], { empty: 'no workers' })}</section>
      <section><h2>Recent task status updates</h2>${pagedTable('mesos-updates', (rm['recent-updates'] || []), [
        { title: 'Time', html: u => time(u.timestamp || u.time) }, { title: 'Task', cls: 'mono', html: u => esc(u['task-id'] || u.task_id) },
        { title: 'State', html: u => esc(u.state) }, { title: 'Reason', cls: 'wrap', html: u => esc([u.reason, u.message].filter(Boolean).join(': ')) }],
        { empty: 'no updates yet' })}</section>`;
  },
};

views.config = {
  frame: () => `<h1>Configuration</h1><section><div class="toolbar"><input id="cfg-filter" placeholder="filter keys" size="30">
    <span class="muted">secrets are shown as ******</span></div><div id="cfg-table"></div></section>`,
  mount() { $('#cfg-filter').addEventListener('input', refresh); },
  async update() {
    const entries = await api('/jobmanager/config');
    const filter = $('#cfg-filter').value.toLowerCase();
    const rows = entries.filter(e => !filter || e.key.toLowerCase().includes(filter)).sort((a, b) => a.key.localeCompare(b.key));
    $('#cfg-table').innerHTML = pagedTable('config', rows, [
      { title: 'Key', cls: 'mono', html: e => esc(e.key) }, { title: 'Value', cls: 'mono wrap', html: e => esc(e.value) }]);
  },
};

const EXAMPLE_SQL = `-- A job that runs until cancelled: 10,000 rows/s into a running count per key.
CREATE TABLE events (k BIGINT, v DOUBLE)
  WITH ('connector' = 'datagen', 'rows-per-second' = '10000',
        'fields.k.min' = '1', 'fields.k.max' = '100');
CREATE TABLE counts (k BIGINT, n BIGINT, total DOUBLE) WITH ('connector' = 'blackhole');
INSERT INTO counts SELECT k, COUNT(*), SUM(v) FROM events GROUP BY k;
`;

views.submit = {
  frame: () => `<h1>Submit a job</h1><section>
    <div class="tabs"><a href="#/submit" class="active" id="mode-sql">SQL script</a><a href="#/submit" id="mode-graph">Job graph (JSON)</a></div>
    <div class="toolbar"><label>Name <input id="submit-name" placeholder="from the script" size="24"></label>
      <label>Parallelism <input id="submit-parallelism" type="number" min="1" placeholder="default" style="width:90px"></label></div>
    <textarea id="submit-text" spellcheck="false"></textarea>
    <div class="toolbar" style="margin-top:8px"><button class="primary" id="submit-button">Submit</button><span class="muted" id="submit-hint">Flink SQL: CREATE TABLE …; INSERT INTO … SELECT …</span></div>
    <div id="submit-msg" class="msg"></div></section>`,
  mount() {
    let mode = 'sql';
    const text = $('#submit-text');
    text.value = sessionStorage.getItem('strom-submit-sql') || EXAMPLE_SQL;
    const setMode = m => ev => {
      ev.preventDefault();
      sessionStorage.setItem('strom-submit-' + mode, text.value);
      mode = m;
      $('#mode-sql').classList.toggle('active', m === 'sql');
      $('#mode-graph').classList.toggle('active', m === 'graph');
      text.value = sessionStorage.getItem('strom-submit-' + m) || (m === 'sql' ? EXAMPLE_SQL : '{"version": 1, "job": {"name": "…", "vertices": [], "edges": []}}');
      $('#submit-hint').textContent = m === 'sql' ? 'Flink SQL: CREATE TABLE …; INSERT INTO … SELECT …' : 'a job graph as in examples/*.json';
    };
    $('#mode-sql').addEventListener('click', setMode('sql'));
    $('#mode-graph').addEventListener('click', setMode('graph'));
    $('#submit-button').addEventListener('click', async () => {
      const msg = $('#submit-msg');
      const button = $('#submit-button');
      button.disabled = true;
      msg.className = 'msg';
      msg.textContent = 'submitting…';
      try {
        sessionStorage.setItem('strom-submit-' + mode, text.value);
        let r;
        if (mode === 'sql') {
          const body = { script: text.value };
          const p = parseInt($('#submit-parallelism').value, 10);
          if (p > 0) body.parallelism = p;
          if ($('#submit-name').value.trim()) body.name = $('#submit-name').value.trim();
          r = await authorized('/jobs/sql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        } else {
          r = await authorized('/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: text.value });
        }
        msg.className = 'msg ok';
        msg.textContent = 'submitted ' + r.jobid;
        location.hash = '#/jobs/' + r.jobid;
      } catch (e) {
        msg.className = 'msg error';
        msg.textContent = e.message;
      } finally {
        button.disabled = false;
      }
    });
  },
  update() { },
};

// ---- routing and refresh ------------------------------------------------------------------

function route() {
  const parts = (location.hash.replace(/^#\/?/, '') || '').split('/').filter(Boolean);
  if (parts[0] === 'jobs' && parts[1]) return ['job', [parts[1], parts[2]]];
  if (parts[0] === 'taskmanagers' && parts[1]) return ['taskmanager', [parts[1]]];
  if (views[parts[0]] && parts[0] !== 'job' && parts[0] !== 'taskmanager') return [parts[0], []];
  return ['overview', []];
}

let current = null;
let busy = false;

async function refresh() {
  if (!current || busy) return;
  busy = true;
  const { view, args, key } = current;
  try {
    await views[view].update(args);
    if (current && current.key === key) setStatus(true, 'live · ' + new Date().toLocaleTimeString('en-GB', { hour12: false }));
  } catch (e) {
    // An answer for a view that was left meanwhile is dropped.
    if (current && current.key === key) {
      setStatus(false, e.status === 404 ? 'not found: ' + e.message : e.status ? e.message : 'cannot reach the JobManager: ' + e.message);
    }
  } finally {
    if (current && current.key === key) busy = false;
  }
}

function navigate() {
  const [view, args] = route();
  const key = location.hash;
  if (current && current.key === key) return;
  current = { view, args, key };
  document.querySelectorAll('#nav a').forEach(a => a.classList.toggle('active',
    a.dataset.view === view || (view === 'job' && a.dataset.view === 'jobs') || (view === 'taskmanager' && a.dataset.view === 'taskmanagers')));
  $('#view').innerHTML = views[view].frame(args);
  $('#view').dataset.view = view;
  if (views[view].mount) views[view].mount(args);
  busy = false;
  refresh();
}

window.addEventListener('hashchange', navigate);
navigate();
setInterval(refresh, REFRESH_MS);
