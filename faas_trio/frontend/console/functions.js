// Functions: the list, one function (source, build, run, map), and the deploy/edit form.

import { FINAL, api, jobPath, userPath } from './api.js';
import { el, errorBox, fieldsTable, link, replace, show, stateBadge, table } from './dom.js';

function buildState(info) {
  return info && info.build && typeof info.build === 'object' ? info.build.state : '';
}

export function functionsPage(main) {
  const body = el('div', {}, 'Loading…');
  replace(main, el('div', { class: 'row' }, el('h1', {}, 'Functions'),
    link('#/functions/new', 'Deploy a function')), body);
  (async () => {
    try {
      const names = Object.keys(await api('GET', userPath('fn'))).sort();
      const infos = await Promise.all(names.map((name) => api('GET', userPath('fn', name))));
      replace(body, infos.length === 0 ? el('p', {}, 'No functions yet.') : table(
        ['name', 'runtime', 'version', 'timeout s', 'memory MB', 'build'],
        infos.map((f) => [link(`#/functions/${encodeURIComponent(f.f_name)}`, f.f_name),
          f.runtime, f.version, f.timeout, f.memory_mb, buildState(f)])));
    } catch (error) {
      replace(body, errorBox(error));
    }
  })();
}

export function functionPage(main, [name]) {
  const body = el('div', {}, 'Loading…');
  replace(main, el('h1', {}, 'Function ', el('span', { id: 'function-name' }, name)), body);
  let timer = null;
  async function load() {
    try {
      const info = await api('GET', userPath('fn', name));
      const build = info.build && typeof info.build === 'object' ? info.build : null;
      replace(body,
        el('div', { class: 'row' },
          link(`#/functions/${encodeURIComponent(name)}/edit`, 'Edit'),
          el('button', { class: 'danger', id: 'delete', onclick: remove }, 'Delete')),
        fieldsTable({ runtime: info.runtime, version: info.version, timeout: info.timeout,
          memory_mb: info.memory_mb, build: build ? build.state : 'none (no requirements)' }),
        build && build.log ? [el('h2', {}, 'Build log'), el('pre', { id: 'build-log' }, build.log)] : null,
        el('h2', {}, 'Source'), el('pre', { id: 'source' }, info.src),
        runForm(name), mapForm(name));
      if (build && (build.state === 'pending' || build.state === 'building')) {
        timer = setTimeout(load, 1000);
      }
    } catch (error) {
      replace(body, errorBox(error));
    }
  }
  async function remove() {
    try {
      await api('DELETE', userPath('fn', name));
      window.location.hash = '#/functions';
    } catch (error) {
      body.prepend(errorBox(error));
    }
  }
  load();
  return () => clearTimeout(timer);
}

function runForm(name) {
  const args = el('input', { name: 'args', value: '[]', id: 'run-args' });
  const out = el('div', { id: 'run-result' });
  const form = el('form', { id: 'run' }, el('h2', {}, 'Run'),
    el('label', {}, 'Arguments (a JSON array)', args),
    el('button', { type: 'submit' }, 'Run'), out);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(out, 'Running…');
    try {
      let record = await api('POST', userPath('fn', name, 'run'),
        { body: args.value, params: { wait: 10 }, type: 'application/json' });
      while (!FINAL.has(record.state)) {
        replace(out, el('p', {}, 'Job ', link(`#/jobs/${record.id}`, record.id), ' ', stateBadge(record.state)));
        record = await api('GET', jobPath(record.id, 'record'), { params: { wait: 10 } });
      }
      replace(out, el('p', {}, 'Job ', link(`#/jobs/${record.id}`, record.id), ' ',
        stateBadge(record.state)),
      el('pre', { class: 'result' }, record.state === 'succeeded' ? show(record.value) : show(record.error)));
    } catch (error) {
      replace(out, errorBox(error));
    }
  });
  return form;
}

function mapForm(name) {
  const inputs = el('textarea', { name: 'inputs', id: 'map-inputs', placeholder: '[1, 2]\n[3, 4]' });
  const out = el('div');
  const form = el('form', { id: 'map' }, el('h2', {}, 'Map'),
    el('label', {}, 'One JSON argument array per line; each line is one call', inputs),
    el('button', { type: 'submit' }, 'Map'), out);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const items = inputs.value.split('\n').filter((line) => line.trim()).map((line, i) => {
        try {
          const value = JSON.parse(line);
          return Array.isArray(value) ? value : [value];
        } catch {
          throw new Error(`line ${i + 1} is not JSON`);
        }
      });
      const group = await api('POST', userPath('fn', name, 'map'),
        { body: JSON.stringify(items), type: 'application/json' });
      window.location.hash = `#/groups/${encodeURIComponent(group.id)}`;
    } catch (error) {
      replace(out, errorBox(error));
    }
  });
  return form;
}

export function deployPage(main, [existing]) {
  const name = el('input', { name: 'name', required: true, id: 'deploy-name', value: existing || '' });
  const runtime = el('select', { name: 'runtime', id: 'deploy-runtime' },
    el('option', { value: 'python' }, 'Python'), el('option', { value: 'node' }, 'JavaScript'));
  const timeout = el('input', { name: 'timeout', type: 'number', min: '0', step: 'any', id: 'deploy-timeout' });
  const memory = el('input', { name: 'memory_mb', type: 'number', min: '1', id: 'deploy-memory' });
  const requirements = el('textarea', { name: 'requirements', id: 'deploy-requirements',
    placeholder: 'pyyaml==6.0.2 (Python only; one per line)' });
  const source = el('textarea', { name: 'source', required: true, id: 'deploy-source', rows: '14' });
  const out = el('div', { id: 'deploy-result' });
  const form = el('form', { id: 'deploy' },
    el('label', {}, 'Name', name), el('label', {}, 'Runtime', runtime),
    el('div', { class: 'row' }, el('label', {}, 'Timeout (s)', timeout), el('label', {}, 'Memory (MB)', memory)),
    el('label', {}, 'Requirements', requirements), el('label', {}, 'Source', source),
    el('button', { type: 'submit' }, 'Deploy'), out);
  replace(main, el('h1', {}, existing ? `Edit ${existing}` : 'Deploy a function'), form);
  if (existing) {
    name.readOnly = true;
    api('GET', userPath('fn', existing)).then((info) => {
      runtime.value = info.runtime;
      timeout.value = info.timeout;
      memory.value = info.memory_mb;
      source.value = info.src;
      if (Array.isArray(info.requirements)) requirements.value = info.requirements.join('\n');
    }).catch((error) => replace(out, errorBox(error)));
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const lines = requirements.value.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const limits = { runtime: runtime.value, timeout: timeout.value, memory_mb: memory.value };
    replace(out, lines.length ? 'Deploying and building…' : 'Deploying…');
    try {
      if (lines.length) {
        const body = { source: source.value, requirements: lines, runtime: runtime.value };
        if (timeout.value) body.timeout = Number(timeout.value);
        if (memory.value) body.memory_mb = Number(memory.value);
        await api('POST', userPath('fn', name.value), { body: JSON.stringify(body),
          type: 'application/json', params: { wait: 30 } });
      } else {
        await api('POST', userPath('fn', name.value),
          { body: source.value, params: limits, type: 'text/plain; charset=utf-8' });
      }
      window.location.hash = `#/functions/${encodeURIComponent(name.value)}`;
    } catch (error) {
      replace(out, errorBox(error));
    }
  });
}
