// Groups (maps): the list, and one group's progress bar and results.

import { FINAL, api, groupPath, userPath } from './api.js';
import { el, errorBox, link, replace, show, stateBadge, table, when } from './dom.js';

const PAGE = 200;

// Items of a group that are final, from its counts by state.
function doneCount(group) {
  const counts = group.counts && typeof group.counts === 'object' ? group.counts : group;
  return [...FINAL].reduce((sum, state) => sum + (Number(counts[state]) || 0), 0);
}

export function groupsPage(main) {
  const body = el('div', {}, 'Loading…');
  replace(main, el('h1', {}, 'Groups'), body);
  let timer = null;
  async function load() {
    try {
      const groups = await api('GET', userPath('groups'));
      replace(body, groups.length === 0 ? el('p', {}, 'No maps yet: run one from a function page.') : table(
        ['id', 'function', 'items', 'created (UTC)'],
        groups.map((g) => [link(`#/groups/${encodeURIComponent(g.id)}`, g.id), g.function,
          g.total, when(g.created_at)])));
      timer = setTimeout(load, 2000);
    } catch (error) {
      replace(body, errorBox(error));
    }
  }
  load();
  return () => clearTimeout(timer);
}

export function groupPage(main, [id]) {
  const bar = el('progress', { id: 'group-progress', max: '1', value: '0' });
  const label = el('span', { id: 'group-done' });
  const actions = el('div', { class: 'row' });
  const results = el('div', { id: 'group-results' });
  replace(main, el('h1', {}, 'Group ', id), bar, el('p', {}, label), actions,
    el('h2', {}, 'Results'), results);
  let timer = null;
  async function load() {
    try {
      const group = await api('GET', groupPath(id));
      const done = doneCount(group);
      bar.max = group.total;
      bar.value = done;
      const percent = group.total ? Math.floor((100 * done) / group.total) : 100;
      replace(label, `${done} / ${group.total} done (${percent} %)`);
      replace(actions, done < group.total
        ? el('button', { class: 'danger', id: 'cancel-group', onclick: cancel }, 'Cancel the group') : null);
      const items = await api('GET', groupPath(id, 'results'), { params: { offset: 0, limit: PAGE } });
      replace(results, table(['#', 'state', 'value or error'], items.map((item, i) => [
        i, stateBadge(item.state), item.state === 'succeeded' ? show(item.value) : show(item.error)])),
      group.total > PAGE ? el('p', {}, `The first ${PAGE} of ${group.total} items.`) : null);
      if (done < group.total) timer = setTimeout(load, 1000);
    } catch (error) {
      replace(results, errorBox(error));
    }
  }
  async function cancel() {
    try {
      await api('DELETE', groupPath(id));
    } catch (error) {
      actions.prepend(errorBox(error));
    }
    load();
  }
  load();
  return () => clearTimeout(timer);
}
