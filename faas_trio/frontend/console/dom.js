// Building the page from data. Every string goes into a text node or an attribute value,
// never through HTML parsing, so names, sources, results and logs can hold any markup and
// it is shown, not run.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2), value);
    } else if (value === true) {
      node.setAttribute(name, '');
    } else if (value !== false && value !== null && value !== undefined) {
      node.setAttribute(name, String(value));
    }
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

// A value as text: strings as they are, anything else as JSON.
export function show(value) {
  if (value === null || value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function table(columns, rows) {
  return el('table', {},
    el('thead', {}, el('tr', {}, columns.map((c) => el('th', {}, c)))),
    el('tbody', {}, rows.map((row) => el('tr', {}, row.map((cell) => el('td', {}, cell))))));
}

export function fieldsTable(record) {
  return table(['field', 'value'], Object.entries(record).map(([k, v]) => [k, show(v)]));
}

export function stateBadge(state) {
  return el('span', { class: `state-${state}`, 'data-state': state }, state);
}

export function errorBox(error) {
  return el('div', { class: 'error', role: 'alert' }, error && error.message ? error.message : String(error));
}

export function when(stamp) {
  if (typeof stamp !== 'number' || stamp <= 0) return '';
  return new Date(stamp * 1000).toISOString().replace('T', ' ').slice(0, 19);
}

export function link(href, text) {
  return el('a', { href }, text);
}
