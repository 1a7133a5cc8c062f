// The overview: live charts of what /metrics exposes, sampled every few seconds, over the
// last minutes (kept in this page only).

import { api } from './api.js';
import { el, errorBox, replace } from './dom.js';

const SAMPLE_MS = 2000;
const KEEP = 60; // samples: two minutes

// Prometheus text -> {name: value}, label sets summed (faas_jobs_total{state=...}).
export function parseMetrics(text) {
  const values = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = line.match(/^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/);
    if (!match) continue;
    const value = Number(match[3]);
    if (Number.isFinite(value)) values[match[1]] = (values[match[1]] || 0) + value;
  }
  return values;
}

const SERIES = [
  ['queue', 'Queue length', (m) => m.faas_queue_length],
  ['running', 'Running jobs', (m) => m.faas_jobs_running],
  ['workers', 'Workers', (m) => m.faas_workers],
  ['rate', 'Jobs/s finished', null],
];

function draw(canvas, points) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth * ratio;
  const height = canvas.clientHeight * ratio;
  canvas.width = width;
  canvas.height = height;
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, width, height);
  g.strokeStyle = '#d8dde6';
  g.beginPath();
  g.moveTo(0, height - 0.5);
  g.lineTo(width, height - 0.5);
  g.stroke();
  if (points.length < 2) return;
  const top = Math.max(1, ...points) * 1.15;
  g.strokeStyle = '#2f5fd0';
  g.lineWidth = 2 * ratio;
  g.beginPath();
  points.forEach((value, i) => {
    const x = width - ((points.length - 1 - i) / (KEEP - 1)) * width; // newest at the right
    const y = height - (value / top) * (height - 4 * ratio) - 2 * ratio;
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
}

export function overviewPage(main) {
  const history = Object.fromEntries(SERIES.map(([id]) => [id, []]));
  const charts = SERIES.map(([id, title]) => {
    const value = el('div', { class: 'value', id: `value-${id}` }, '–');
    const canvas = el('canvas', { id: `chart-${id}` });
    return { id, value, canvas, box: el('div', { class: 'chart' }, el('div', {}, title), value, canvas) };
  });
  const status = el('div', { id: 'overview-status' });
  replace(main, el('h1', {}, 'Overview'), status,
    el('div', { class: 'charts' }, charts.map((c) => c.box)),
    el('p', {}, 'Sampled from /metrics every 2 s; the last two minutes.'));
  let previous = null;
  let timer = null;
  async function sample() {
    try {
      const metrics = parseMetrics(await api('GET', '/metrics', { text: true }));
      const now = performance.now();
      const finished = metrics.faas_jobs_total || 0;
      const rate = previous ? Math.max(0, (finished - previous.finished) / ((now - previous.now) / 1000)) : 0;
      previous = { finished, now };
      for (const [id, , pick] of SERIES) {
        const value = pick ? Number(pick(metrics) || 0) : rate;
        history[id].push(value);
        if (history[id].length > KEEP) history[id].shift();
      }
      for (const chart of charts) {
        const points = history[chart.id];
        const last = points[points.length - 1];
        replace(chart.value, chart.id === 'rate' ? last.toFixed(1) : String(last));
        draw(chart.canvas, points);
      }
      replace(status);
      status.dataset.samples = String(history.rate.length);
    } catch (error) {
      replace(status, errorBox(error.status === 401 || error.status === 403
        ? 'The metrics need the admin key in keys mode: sign in with it to see the overview.'
        : error));
    }
    timer = setTimeout(sample, SAMPLE_MS);
  }
  sample();
  return () => clearTimeout(timer);
}
