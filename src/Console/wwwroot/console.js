'use strict';
// The console's pages. Data comes from /ui/api/* (session cookie; writes carry the CSRF token in
// X-Console-Csrf); every value is put in the page with textContent, never as HTML.

const session = { csrf: null, who: null, adminApi: false };
const palette = ['#2f6fed', '#e4572e', '#17bebb', '#ffc914', '#76b041', '#9b5de5', '#f15bb5', '#00bbf9', '#8d99ae', '#ef476f'];
const charts = {};
let timer = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'class') node.className = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path, options = {}) {
  const method = options.method || 'GET';
  const headers = { 'X-Requested-With': 'gateway-console' };
  if (method !== 'GET') headers['X-Console-Csrf'] = session.csrf;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, credentials: 'same-origin', body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  if (response.status === 401) {
    location.assign('/ui/login?next=' + encodeURIComponent(location.pathname));
    throw new Error('signed out');
  }
  const text = await response.text();
  const body = text ? JSON.parse(text) : {};
  if (!response.ok) throw new Error(body.error || ('HTTP ' + response.status));
  return body;
}

const money = (v) => {
  const n = Number(v || 0);
  if (n === 0) return '$0';
  if (Math.abs(n) >= 1) return '$' + n.toFixed(2);
  return '$' + n.toPrecision(3);
};
const num = (v) => Number(v || 0).toLocaleString('en-US');
const ms = (v) => (v === null || v === undefined ? '–' : Math.round(v) + ' ms');

function chart(id, config) {
  if (charts[id]) charts[id].destroy();
  const canvas = document.getElementById(id);
  if (!canvas || typeof Chart === 'undefined') return null;
  config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
  charts[id] = new Chart(canvas, config);
  return charts[id];
}

function table(id, columns, rows) {
  const target = document.getElementById(id);
  target.replaceChildren(el('table', {},
    el('thead', {}, el('tr', {}, columns.map((c) => el('th', { class: c.num ? 'num' : '' }, c.title)))),
    el('tbody', {}, rows.map((row) => el('tr', row.attrs || {}, columns.map((c) => el('td', { class: c.num ? 'num' : '' }, c.value(row))))))));
}

function clearTimer() {
  if (timer) clearInterval(timer);
  timer = null;
}

// ---------- Spend ----------

async function spendPage(main) {
  main.replaceChildren(
    el('h1', {}, 'Spend'),
    el('div', { class: 'toolbar' },
      el('label', { for: 'spend-days' }, 'Range'),
      el('select', { id: 'spend-days', onchange: loadSpend },
        el('option', { value: '7' }, 'last 7 days'), el('option', { value: '30', selected: true }, 'last 30 days'),
        el('option', { value: '90' }, 'last 90 days'), el('option', { value: '365' }, 'last 365 days')),
      el('label', { for: 'spend-bucket' }, 'Totals by'),
      el('select', { id: 'spend-bucket', onchange: loadSpend },
        el('option', { value: 'day' }, 'day'), el('option', { value: 'week' }, 'week'), el('option', { value: 'month' }, 'month')),
      el('a', { id: 'spend-csv', class: 'button secondary', href: '/ui/api/spend.csv?days=30' }, 'Export CSV'),
      el('span', { class: 'muted small', id: 'spend-range' })),
    el('div', { class: 'kpis' },
      kpi('kpi-cost', 'Total spend'), kpi('kpi-requests', 'Requests'), kpi('kpi-success', 'Successful'),
      kpi('kpi-cpr', 'Cost per request'), kpi('kpi-cps', 'Cost per successful request'), kpi('kpi-saved', 'Cache savings')),
    el('div', { class: 'row' },
      el('div', { class: 'card grow' }, el('h2', {}, 'Spend over time'), el('div', { class: 'chart-box' }, el('canvas', { id: 'chart-spend' }))),
      el('div', { class: 'card', style: 'flex: 0 1 360px' }, el('h2', {}, 'Model mix (requests)'), el('div', { class: 'chart-box' }, el('canvas', { id: 'chart-mix' })))),
    el('div', { class: 'card' }, el('h2', {}, 'Budget burn-down (this month; alerts at 50, 80 and 100 %)'), el('div', { id: 'budgets' })),
    el('div', { class: 'card scroll' }, el('h2', {}, 'By team'), el('div', { id: 'by-team' })),
    el('div', { class: 'card scroll' }, el('h2', {}, 'By key'), el('div', { id: 'by-key' })),
    el('div', { class: 'row' },
      el('div', { class: 'card grow scroll' }, el('h2', {}, 'By model'), el('div', { id: 'by-model' })),
      el('div', { class: 'card grow scroll' }, el('h2', {}, 'By deployment'), el('div', { id: 'by-deployment' }))));
  await loadSpend();
  timer = setInterval(() => loadSpend().catch(() => {}), 3000);
}

function kpi(id, label) {
  return el('div', { class: 'kpi' }, el('div', { class: 'label' }, label), el('div', { class: 'value', id }, '…'));
}

async function loadSpend() {
  const days = document.getElementById('spend-days').value;
  const bucket = document.getElementById('spend-bucket').value;
  document.getElementById('spend-csv').setAttribute('href', '/ui/api/spend.csv?days=' + days);
  const data = await api('/ui/api/spend?days=' + days + '&bucket=' + bucket);
  const t = data.totals;
  document.getElementById('spend-range').textContent = data.from.slice(0, 10) + ' to ' + data.to.slice(0, 10) + ' (UTC)';
  document.getElementById('kpi-cost').textContent = money(t.costUsd);
  const requests = document.getElementById('kpi-requests');
  requests.textContent = num(t.requests);
  requests.dataset.value = String(t.requests);
  document.getElementById('kpi-success').textContent = num(t.successfulRequests);
  document.getElementById('kpi-cpr').textContent = t.costPerRequest === null ? '–' : money(t.costPerRequest);
  document.getElementById('kpi-cps').textContent = t.costPerSuccessfulRequest === null ? '–' : money(t.costPerSuccessfulRequest);
  document.getElementById('kpi-saved').textContent = money(t.savedCostUsd);

  const spend = chart('chart-spend', {
    type: 'bar',
    data: {
      labels: data.series.map((s) => s.name),
      datasets: [
        { label: 'spend (US$)', data: data.series.map((s) => Number(s.costUsd)), backgroundColor: palette[0], yAxisID: 'y' },
        { label: 'requests', type: 'line', data: data.series.map((s) => s.requests), borderColor: palette[1], backgroundColor: palette[1], yAxisID: 'y1' },
      ],
    },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: 'US$' } }, y1: { beginAtZero: true, position: 'right', grid: { drawOnChartArea: false } } } },
  });
  const spendCanvas = document.getElementById('chart-spend');
  spendCanvas.dataset.totalRequests = String(t.requests);
  spendCanvas.dataset.totalCost = String(t.costUsd);
  if (!spend) spendCanvas.dataset.error = 'Chart.js did not load';

  chart('chart-mix', {
    type: 'doughnut',
    data: { labels: data.byModel.map((m) => m.name), datasets: [{ data: data.byModel.map((m) => m.requests), backgroundColor: palette }] },
    options: { plugins: { legend: { position: 'bottom' } } },
  });

  const columns = [
    { title: 'name', value: (r) => (r.label ? el('span', {}, r.label, ' ', el('code', { class: 'muted small' }, r.name)) : r.name) },
    { title: 'requests', num: true, value: (r) => num(r.requests) },
    { title: 'successful', num: true, value: (r) => num(r.successfulRequests) },
    { title: 'tokens in / out', num: true, value: (r) => num(r.inputTokens) + ' / ' + num(r.outputTokens) },
    { title: 'spend', num: true, value: (r) => money(r.costUsd) },
    { title: 'per request', num: true, value: (r) => (r.costPerRequest === null ? '–' : money(r.costPerRequest)) },
    { title: 'per success', num: true, value: (r) => (r.costPerSuccessfulRequest === null ? '–' : money(r.costPerSuccessfulRequest)) },
    { title: 'cache savings', num: true, value: (r) => money(r.savedCostUsd) },
  ];
  table('by-team', columns, data.byTeam);
  table('by-key', columns, data.byKey);
  table('by-model', columns, data.byModel);
  table('by-deployment', columns, data.byDeployment);
  renderBudgets(data.budgets);
}

function renderBudgets(budgets) {
  const target = document.getElementById('budgets');
  if (budgets.length === 0) {
    target.replaceChildren(el('p', { class: 'muted' }, 'No key or team has a monthly budget. Set one on the Keys and teams page.'));
    return;
  }
  target.replaceChildren(el('div', { class: 'row' }, budgets.map((b, i) => el('div', { class: 'card grow', 'data-budget': b.scope + ':' + b.id },
    el('h2', {}, b.scope + ' ' + b.name + ' — ' + money(b.spentUsd) + ' of ' + money(b.budgetUsd) + ' (' + b.percent.toFixed(1) + ' %)'),
    el('div', { class: 'marks small' }, [50, 80, 100].map((m) => el('span', { class: 'badge ' + (b.marksReached.includes(m) ? (m === 100 ? 'bad' : 'warn') : '') }, m + ' %'))),
    el('div', { class: 'chart-box short' }, el('canvas', { id: 'budget-' + i }))))));
  budgets.forEach((b, i) => {
    const mark = (p, color) => ({ label: p + ' %', data: b.days.map(() => Number(b.budgetUsd) * p / 100), borderColor: color, borderDash: [5, 4], pointRadius: 0, borderWidth: 1 });
    chart('budget-' + i, {
      type: 'line',
      data: {
        labels: b.days.map((d) => d.slice(5)),
        datasets: [
          { label: 'spent', data: b.cumulative.map(Number), borderColor: palette[0], backgroundColor: 'rgba(47,111,237,.15)', fill: true },
          mark(50, '#b7791f'), mark(80, '#e4572e'), mark(100, '#c0362c'),
        ],
      },
      options: { scales: { y: { beginAtZero: true } }, plugins: { legend: { position: 'bottom' } } },
    });
  });
}

// ---------- Keys and teams ----------

let teamsCache = [];

async function keysPage(main) {
  const disabled = !session.adminApi;
  main.replaceChildren(
    el('h1', {}, 'Keys and teams'),
    el('div', {}, disabled ? el('p', { class: 'card error' }, 'Key management is off, as the admin API is: set auth.masterKey to enable it.') : null),
    el('div', { id: 'secret-once' }),
    el('div', { class: 'card' }, el('h2', {}, 'New key'),
      el('div', { class: 'form-grid' },
        field('key-name', 'Name', el('input', { id: 'key-name', placeholder: 'billing-svc' })),
        field('key-team', 'Team', el('select', { id: 'key-team' })),
        field('key-models', 'Allowed models (comma-separated; empty = all)', el('input', { id: 'key-models' })),
        field('key-rpm', 'Requests / minute', el('input', { id: 'key-rpm', type: 'number', min: 1 })),
        field('key-tpm', 'Tokens / minute', el('input', { id: 'key-tpm', type: 'number', min: 1 })),
        field('key-budget', 'Monthly budget (US$)', el('input', { id: 'key-budget', type: 'number', min: 0, step: 'any' })),
        field('key-admin', 'Admin-scoped (can sign in here)', el('input', { id: 'key-admin', type: 'checkbox' })),
        el('div', {}, el('button', { id: 'key-create', type: 'button', disabled, onclick: createKey }, 'Create key'))),
      el('p', { id: 'keys-error', class: 'error' })),
    el('div', { class: 'card scroll' }, el('h2', {}, 'Keys'), el('div', { id: 'keys-table' })),
    el('div', { class: 'card' }, el('h2', {}, 'New team'),
      el('div', { class: 'form-grid' },
        field('team-name', 'Name', el('input', { id: 'team-name', placeholder: 'payments' })),
        field('team-rpm', 'Requests / minute', el('input', { id: 'team-rpm', type: 'number', min: 1 })),
        field('team-budget', 'Monthly budget (US$)', el('input', { id: 'team-budget', type: 'number', min: 0, step: 'any' })),
        el('div', {}, el('button', { id: 'team-create', type: 'button', disabled, onclick: createTeam }, 'Create team'))),
      el('p', { id: 'teams-error', class: 'error' })),
    el('div', { class: 'card scroll' }, el('h2', {}, 'Teams'), el('div', { id: 'teams-table' })));
  if (!disabled) await loadKeys();
}

function field(id, label, input) {
  return el('div', {}, el('label', { for: id }, label), input);
}

function limitsFrom(prefix) {
  const limits = {};
  const int = (id, name) => { const v = document.getElementById(prefix + id); if (v && v.value !== '') limits[name] = parseInt(v.value, 10); };
  int('-rpm', 'requestsPerMinute');
  int('-tpm', 'tokensPerMinute');
  int('-concurrent', 'maxConcurrentRequests');
  int('-maxtokens', 'maxTokensPerRequest');
  const budget = document.getElementById(prefix + '-budget');
  if (budget && budget.value !== '') limits.monthlyBudgetUsd = parseFloat(budget.value);
  return limits;
}

function describeLimits(l) {
  const parts = [];
  if (l && l.requestsPerMinute) parts.push(l.requestsPerMinute + ' rpm');
  if (l && l.tokensPerMinute) parts.push(l.tokensPerMinute + ' tpm');
  if (l && l.maxConcurrentRequests) parts.push(l.maxConcurrentRequests + ' concurrent');
  if (l && l.maxTokensPerRequest) parts.push('≤' + l.maxTokensPerRequest + ' tokens');
  if (l && l.monthlyBudgetUsd !== undefined) parts.push(money(l.monthlyBudgetUsd) + '/month');
  return parts.join(', ') || 'none';
}

function showSecret(title, key, secret) {
  // Shown this once: the gateway keeps only the hash. Dismissing it removes it from the page.
  const box = document.getElementById('secret-once');
  box.replaceChildren(el('div', { class: 'card secret', id: 'secret-card' },
    el('h2', {}, title + ' ' + (key.name || key.id) + ' — copy the secret now; it is not shown again'),
    el('code', { id: 'secret-value' }, secret),
    el('div', { style: 'margin-top:8px' },
      el('button', { type: 'button', class: 'secondary small', onclick: () => navigator.clipboard && navigator.clipboard.writeText(secret) }, 'Copy'), ' ',
      el('button', { type: 'button', id: 'secret-dismiss', class: 'small', onclick: () => box.replaceChildren() }, 'I have stored it'))));
}

async function createKey() {
  const error = document.getElementById('keys-error');
  error.textContent = '';
  const models = document.getElementById('key-models').value.split(',').map((m) => m.trim()).filter(Boolean);
  const key = { name: document.getElementById('key-name').value, teamId: document.getElementById('key-team').value, allowedModels: models, limits: limitsFrom('key') };
  if (document.getElementById('key-admin').checked) key.metadata = { scope: 'admin' };
  try {
    const created = await api('/ui/api/keys', { method: 'POST', body: key });
    showSecret('New key', created.key, created.secret);
    for (const id of ['key-name', 'key-models', 'key-rpm', 'key-tpm', 'key-budget']) document.getElementById(id).value = '';
    document.getElementById('key-admin').checked = false;
    await loadKeys();
  } catch (e) {
    error.textContent = e.message;
  }
}

async function createTeam() {
  const error = document.getElementById('teams-error');
  error.textContent = '';
  try {
    await api('/ui/api/teams', { method: 'POST', body: { name: document.getElementById('team-name').value, limits: limitsFrom('team') } });
    for (const id of ['team-name', 'team-rpm', 'team-budget']) document.getElementById(id).value = '';
    await loadKeys();
  } catch (e) {
    error.textContent = e.message;
  }
}

async function keyAction(key, action) {
  const error = document.getElementById('keys-error');
  error.textContent = '';
  const what = action === 'revoke' ? 'Revoke key ' + (key.name || key.id) + '? Its next call is refused.' : 'Rotate key ' + (key.name || key.id) + '? The old secret stops working at once.';
  if (!confirm(what)) return;
  try {
    const result = await api('/ui/api/keys/' + encodeURIComponent(key.id) + '/' + action, { method: 'POST' });
    if (action === 'rotate') showSecret('Rotated key', result.key, result.secret);
    await loadKeys();
  } catch (e) {
    error.textContent = e.message;
  }
}

function editLimits(kind, item, row) {
  const prefix = 'edit-' + item.id;
  const l = item.limits || {};
  const input = (suffix, value, step) => el('input', { id: prefix + suffix, type: 'number', min: 0, step: step || 1, value: value === undefined ? '' : value, style: 'width:110px' });
  const editor = el('tr', { class: 'editor' }, el('td', { colspan: 9 },
    el('div', { class: 'form-grid' },
      field(prefix + '-rpm', 'Requests / minute', input('-rpm', l.requestsPerMinute)),
      field(prefix + '-tpm', 'Tokens / minute', input('-tpm', l.tokensPerMinute)),
      field(prefix + '-concurrent', 'Concurrent', input('-concurrent', l.maxConcurrentRequests)),
      field(prefix + '-maxtokens', 'Max tokens / request', input('-maxtokens', l.maxTokensPerRequest)),
      field(prefix + '-budget', 'Monthly budget (US$)', input('-budget', l.monthlyBudgetUsd, 'any')),
      el('div', {}, el('button', {
        type: 'button', id: prefix + '-save', onclick: async () => {
          const error = document.getElementById(kind === 'key' ? 'keys-error' : 'teams-error');
          const updated = Object.assign({}, item, { limits: Object.assign({ algorithm: l.algorithm || '' }, limitsFrom(prefix)) });
          for (const drop of ['attrs', 'id', 'prefix', 'createTime', 'updateTime', 'revokeTime']) delete updated[drop];
          try {
            await api('/ui/api/' + (kind === 'key' ? 'keys/' : 'teams/') + encodeURIComponent(item.id), { method: 'PATCH', body: updated });
            await loadKeys();
          } catch (e) {
            error.textContent = e.message;
          }
        },
      }, 'Save limits')))));
  row.after(editor);
}

async function loadKeys() {
  const [keys, teams] = await Promise.all([api('/ui/api/keys'), api('/ui/api/teams')]);
  teamsCache = teams.teams || [];
  const select = document.getElementById('key-team');
  const chosen = select.value;
  select.replaceChildren(el('option', { value: '' }, '(no team)'), ...teamsCache.map((t) => el('option', { value: t.id, selected: t.id === chosen }, t.name)));
  const teamName = (id) => (teamsCache.find((t) => t.id === id) || {}).name || id || '–';
  const keyRows = (keys.keys || []).slice().reverse().map((k) => Object.assign({ attrs: { 'data-key-id': k.id, 'data-key-name': k.name } }, k));
  table('keys-table', [
    { title: 'name', value: (k) => k.name || '–' },
    { title: 'id', value: (k) => el('code', {}, k.id) },
    { title: 'prefix', value: (k) => el('code', {}, k.prefix) },
    { title: 'team', value: (k) => teamName(k.teamId) },
    { title: 'models', value: (k) => (k.allowedModels && k.allowedModels.length ? k.allowedModels.join(', ') : 'all') },
    { title: 'limits', value: (k) => el('span', { class: 'limits' }, describeLimits(k.limits)) },
    { title: 'scope', value: (k) => (k.metadata && k.metadata.scope === 'admin' ? el('span', { class: 'badge warn' }, 'admin') : '') },
    { title: 'status', value: (k) => el('span', { class: 'badge status ' + (k.revokeTime ? 'revoked' : 'active') }, k.revokeTime ? 'revoked' : 'active') },
    {
      title: '', value: (k) => (k.revokeTime ? '' : el('span', {},
        el('button', { type: 'button', class: 'secondary small', 'data-action': 'limits', onclick: (e) => editLimits('key', k, e.target.closest('tr')) }, 'Edit limits'), ' ',
        el('button', { type: 'button', class: 'secondary small', 'data-action': 'rotate', onclick: () => keyAction(k, 'rotate') }, 'Rotate'), ' ',
        el('button', { type: 'button', class: 'danger small', 'data-action': 'revoke', onclick: () => keyAction(k, 'revoke') }, 'Revoke'))),
    },
  ], keyRows);
  table('teams-table', [
    { title: 'name', value: (t) => t.name },
    { title: 'id', value: (t) => el('code', {}, t.id) },
    { title: 'models', value: (t) => (t.allowedModels && t.allowedModels.length ? t.allowedModels.join(', ') : 'all') },
    { title: 'limits', value: (t) => el('span', { class: 'limits' }, describeLimits(t.limits)) },
    { title: '', value: (t) => el('button', { type: 'button', class: 'secondary small', 'data-action': 'limits', onclick: (e) => editLimits('team', t, e.target.closest('tr')) }, 'Edit limits') },
  ], teamsCache.map((t) => Object.assign({ attrs: { 'data-team-id': t.id } }, t)));
}

// ---------- Traffic ----------

let lastSeq = 0;

async function trafficPage(main) {
  lastSeq = 0;
  main.replaceChildren(
    el('h1', {}, 'Traffic'),
    el('div', { class: 'row' },
      el('div', { class: 'card', style: 'flex: 0 1 480px' }, el('h2', {}, 'Deployments (circuit state)'), el('div', { id: 'deployments' })),
      el('div', { class: 'card grow' }, el('h2', {}, 'Error classes per minute (last hour)'), el('div', { class: 'chart-box short' }, el('canvas', { id: 'chart-errors' })))),
    el('div', { class: 'card scroll' },
      el('div', { class: 'toolbar' }, el('h2', { style: 'margin:0' }, 'Live tail'),
        el('label', {}, el('input', { type: 'checkbox', id: 'tail-pause' }), ' pause'),
        el('span', { class: 'muted small' }, 'Metadata only: prompts and answers are never shown here.')),
      el('table', { id: 'tail' },
        el('thead', {}, el('tr', {}, ['time', 'request', 'route', 'key', 'model', 'deployment', 'attempts', 'latency', 'TTFT', 'tokens in/out', 'cost', 'status', 'flags'].map((h) => el('th', {}, h)))),
        el('tbody', { id: 'tail-body' }))));
  await loadTraffic();
  timer = setInterval(() => { if (!document.getElementById('tail-pause').checked) loadTraffic().catch(() => {}); }, 1000);
}

async function loadTraffic() {
  const data = await api('/ui/api/traffic?after=' + lastSeq);
  table('deployments', [
    { title: 'model', value: (d) => d.model },
    { title: 'deployment', value: (d) => d.name },
    { title: 'provider', value: (d) => d.provider },
    { title: 'circuit', value: (d) => el('span', { class: 'badge ' + d.state }, d.state.replace('_', '-')) },
  ], data.deployments.map((d) => Object.assign({ attrs: { 'data-deployment': d.name, 'data-state': d.state } }, d)));

  const body = document.getElementById('tail-body');
  const rows = data.entries.slice().reverse().map((e) => el('tr', { 'data-request-id': e.requestId, 'data-status': e.status, 'data-key-id': e.keyId || '' },
    el('td', {}, new Date(e.timestamp).toLocaleTimeString('en-GB')),
    el('td', {}, el('code', {}, e.requestId)),
    el('td', {}, e.route + (e.stream ? ' (stream)' : '')),
    el('td', {}, e.keyId || '–'),
    el('td', {}, e.model),
    el('td', {}, e.deployment || '–'),
    el('td', {}, String(e.attempts), e.attemptTrail ? el('span', { class: 'muted small' }, ' ' + e.attemptTrail) : null),
    el('td', { class: 'num' }, ms(e.latencyMs)),
    el('td', { class: 'num' }, ms(e.timeToFirstTokenMs)),
    el('td', { class: 'num' }, num(e.inputTokens) + ' / ' + num(e.outputTokens)),
    el('td', { class: 'num' }, money(e.costUsd)),
    el('td', {}, el('span', { class: 'badge ' + (e.status === 'OK' ? 'ok' : 'bad') }, e.status + (e.errorKind ? ' · ' + e.errorKind : ''))),
    el('td', {}, [e.cacheHit ? 'cache' : null, e.guardrails ? 'guardrail: ' + e.guardrails : null, e.fallback ? 'fallback' : null, e.hedged ? 'hedged' : null].filter(Boolean).join(', '))));
  for (const row of rows) body.prepend(row);
  while (body.children.length > 200) body.lastChild.remove();
  lastSeq = data.lastSeq;

  const kinds = Object.keys(data.errors.series);
  chart('chart-errors', {
    type: 'bar',
    data: { labels: data.errors.minutes, datasets: kinds.map((k, i) => ({ label: k, data: data.errors.series[k], backgroundColor: palette[(i + 1) % palette.length] })) },
    options: { scales: { x: { stacked: true, ticks: { maxTicksLimit: 12 } }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
  });
}

// ---------- Playground ----------

let playgroundAbort = null;

async function playgroundPage(main) {
  main.replaceChildren(
    el('h1', {}, 'Playground'),
    el('div', { class: 'card' },
      el('p', { class: 'muted small' }, 'Sends the prompt to POST /v1/chat/completions with stream: true, as any OpenAI client would, and shows the SSE stream as it arrives. The call is authenticated, limited and billed like any other: paste a virtual key (kept in this page only, never stored) or leave it empty in open dev mode.'),
      el('div', { class: 'form-grid' },
        field('pg-model', 'Model group', el('select', { id: 'pg-model' })),
        field('pg-key', 'API key', el('input', { id: 'pg-key', type: 'password', autocomplete: 'off', placeholder: 'gw-…' })),
        field('pg-max-tokens', 'max_tokens', el('input', { id: 'pg-max-tokens', type: 'number', min: 1, value: 64 }))),
      el('div', { style: 'margin-top:10px' }, el('label', { for: 'pg-prompt' }, 'Prompt'), el('textarea', { id: 'pg-prompt' }, 'Write a haiku about gateways.')),
      el('div', { class: 'toolbar', style: 'margin-top:10px' },
        el('button', { id: 'pg-send', type: 'button', onclick: sendPlayground }, 'Send'),
        el('button', { id: 'pg-stop', type: 'button', class: 'secondary', onclick: () => playgroundAbort && playgroundAbort.abort() }, 'Stop'),
        el('span', { id: 'pg-stats', class: 'muted' }))),
    el('div', { id: 'pg-output', class: 'output', 'data-state': 'idle' }));
  const models = await api('/ui/api/models');
  document.getElementById('pg-model').replaceChildren(...(models.models || []).map((m) => el('option', { value: m.id }, m.id)));
}

async function sendPlayground() {
  const output = document.getElementById('pg-output');
  const stats = document.getElementById('pg-stats');
  output.textContent = '';
  output.dataset.state = 'streaming';
  output.dataset.deltas = '0';
  const key = document.getElementById('pg-key').value;
  const request = {
    model: document.getElementById('pg-model').value,
    messages: [{ role: 'user', content: document.getElementById('pg-prompt').value }],
    max_tokens: parseInt(document.getElementById('pg-max-tokens').value, 10) || 64,
    stream: true,
    stream_options: { include_usage: true },
  };
  playgroundAbort = new AbortController();
  const started = performance.now();
  let firstToken = null;
  let deltas = 0;
  let usage = null;
  try {
    const headers = { 'Content-Type': 'application/json' };
    if (key) headers.Authorization = 'Bearer ' + key;
    const response = await fetch('/v1/chat/completions', { method: 'POST', headers, body: JSON.stringify(request), signal: playgroundAbort.signal, credentials: 'omit' });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error((body.error && body.error.message) || ('HTTP ' + response.status));
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split('\n')) {
          if (!line.startsWith('data:')) continue;
          const data = line.slice(5).trim();
          if (data === '[DONE]') continue;
          const chunk = JSON.parse(data);
          if (chunk.usage) usage = chunk.usage;
          const text = chunk.choices && chunk.choices[0] && chunk.choices[0].delta && chunk.choices[0].delta.content;
          if (text) {
            if (firstToken === null) firstToken = performance.now() - started;
            output.append(document.createTextNode(text));
            deltas += 1;
            output.dataset.deltas = String(deltas);
          }
        }
      }
    }
    output.dataset.state = 'done';
  } catch (e) {
    output.dataset.state = 'error';
    output.append(el('div', { class: 'error', id: 'pg-error' }, e.name === 'AbortError' ? 'stopped' : e.message));
  }
  const total = performance.now() - started;
  stats.textContent = 'first token ' + (firstToken === null ? '–' : Math.round(firstToken) + ' ms') + ' · total ' + Math.round(total) + ' ms · ' + deltas + ' deltas'
    + (usage ? ' · ' + usage.prompt_tokens + ' in / ' + usage.completion_tokens + ' out' : '');
}

// ---------- start ----------

const pages = { spend: spendPage, keys: keysPage, traffic: trafficPage, playground: playgroundPage };

async function start() {
  const page = location.pathname.split('/')[2] || 'spend';
  const me = await api('/ui/api/session');
  session.csrf = me.csrf;
  session.who = me.who;
  session.adminApi = me.adminApi;
  document.getElementById('who').textContent = me.who;
  for (const link of document.querySelectorAll('nav a')) link.classList.toggle('active', link.dataset.page === page);
  document.getElementById('sign-out').addEventListener('click', async () => {
    clearTimer();
    await api('/ui/api/session', { method: 'DELETE' }).catch(() => {});
    location.assign('/ui/login');
  });
  const main = document.getElementById('main');
  main.dataset.page = page;
  await (pages[page] || spendPage)(main);
  main.dataset.ready = 'true';
}

start().catch((e) => {
  const main = document.getElementById('main');
  main.append(el('p', { class: 'error', id: 'page-error' }, e.message));
});
