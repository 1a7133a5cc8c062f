// Jobs: the live list with a state filter, and one job's record, result and logs.

import { FINAL, api, jobPath, userPath } from './api.js';
import { el, errorBox, fieldsTable, link, replace, show, stateBadge, table, when } from './dom.js';

const STATES = ['queued', 'running', 'succeeded', 'failed', 'timeout', 'cancelled'];
const REFRESH_MS = 2000;

export function jobsPage(main) {
  const filter = el('select', { id: 'state-filter' }, el('option', { value: '' }, 'every state'),
    STATES.map((s) => el('option', { value: s }, s)));
  const body = el('div', { id: 'jobs' }, 'Loading…');
  replace(main, el('div', { class: 'row' }, el('h1', {}, 'Jobs'), el('label', {}, 'State ', filter)), body);
  let timer = null;
  async function load() {
    clearTimeout(timer);
    try {
      const jobs = await api('GET', userPath('jobs'), { params: { state: filter.value, limit: 100 } });
      replace(body, jobs.length === 0 ? el('p', {}, 'No jobs.') : table(
        ['id', 'function', 'state', 'created (UTC)', 'ms'],
        jobs.map((j) => [link(`#/jobs/${j.id}`, j.id), j.function, stateBadge(j.state),
          when(j.created_at), j.duration_ms === null ? '' : Math.round(j.duration_ms)])));
    } catch (error) {
      replace(body, errorBox(error));
    }
    timer = setTimeout(load, REFRESH_MS);
  }
  filter.addEventListener('change', load);
  load();
  return () => clearTimeout(timer);
}

export function jobPage(main, [id]) {
  const body = el('div', {}, 'Loading…');
  replace(main, el('h1', {}, 'Job ', id), body);
  let timer = null;
  async function load() {
    try {
      const record = await api('GET', jobPath(id, 'record'));
      const logs = await api('GET', jobPath(id, 'logs'));
      const final = FINAL.has(record.state);
      replace(body,
        el('p', {}, 'State: ', stateBadge(record.state), ' ',
          final ? null : el('button', { class: 'danger', id: 'cancel', onclick: cancel }, 'Cancel')),
        el('h2', {}, 'Result'),
        el('pre', { id: 'result' }, record.state === 'succeeded' ? show(record.value) : show(record.error)),
        el('h2', {}, 'Logs'), el('pre', { id: 'logs' }, logs),
        el('h2', {}, 'Record'), fieldsTable(record));
      if (!final) timer = setTimeout(load, 1000);
    } catch (error) {
      replace(body, errorBox(error));
    }
  }
  async function cancel() {
    clearTimeout(timer);
    try {
      await api('DELETE', jobPath(id));
      replace(body, el('p', { class: 'notice', id: 'cancelled' }, `Job ${id} was cancelled and removed.`));
    } catch (error) {
      body.prepend(errorBox(error));
    }
  }
  load();
  return () => clearTimeout(timer);
}
