// The console's shell: sign-in, navigation, and the page router (location.hash).
// A page is `render(main, params)` returning a function that stops its timers.

import { api, credentials, signIn, signOut } from './api.js';
import { el, errorBox, replace } from './dom.js';
import { functionPage, functionsPage, deployPage } from './functions.js';
import { groupPage, groupsPage } from './groups.js';
import { jobPage, jobsPage } from './jobs.js';
import { overviewPage } from './overview.js';

const routes = [
  [/^#\/overview$/, overviewPage],
  [/^#\/functions$/, functionsPage],
  [/^#\/functions\/new$/, deployPage],
  [/^#\/functions\/([^/]+)\/edit$/, deployPage],
  [/^#\/functions\/([^/]+)$/, functionPage],
  [/^#\/jobs$/, jobsPage],
  [/^#\/jobs\/([^/]+)$/, jobPage],
  [/^#\/groups$/, groupsPage],
  [/^#\/groups\/([^/]+)$/, groupPage],
];

let stop = () => {};

function signInPage(main) {
  const user = el('input', { name: 'user', required: true, autocomplete: 'username' });
  const key = el('input', { name: 'key', type: 'password', autocomplete: 'off' });
  const message = el('div');
  const form = el('form', { id: 'sign-in' },
    el('label', {}, 'User', user),
    el('label', {}, 'API key (keys mode only; kept in this tab only)', key),
    el('div', { class: 'row' },
      el('button', { type: 'submit' }, 'Sign in'),
      el('button', { type: 'button', class: 'secondary', id: 'register', onclick: register },
        'Register a new user')),
    message);
  async function register() {
    try {
      const res = await api('POST', '/u/' + encodeURIComponent(user.value));
      const newKey = res && typeof res === 'object' ? res.api_key : '';
      signIn(user.value, newKey);
      render();
      if (newKey) {
        document.getElementById('main').prepend(el('div', { class: 'notice', id: 'new-key' },
          'Your API key, shown only this once: ', el('span', { class: 'key' }, newKey)));
      }
    } catch (error) {
      replace(message, errorBox(error));
    }
  }
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = user.value.trim();
    // A key names its user: `<user>.<secret>`.
    signIn(name || key.value.split('.')[0], key.value.trim());
    render();
  });
  replace(main, el('h1', {}, 'Sign in'), form);
  return () => {};
}

function render() {
  stop();
  const main = document.getElementById('main');
  const { user, key } = credentials();
  const who = document.getElementById('who');
  if (!user) {
    replace(who);
    stop = signInPage(main);
    return;
  }
  replace(who, `${user}${key ? ' (key)' : ''} `,
    el('button', { class: 'secondary', id: 'sign-out', onclick: () => { signOut(); render(); } },
      'Sign out'));
  const hash = window.location.hash || '#/functions';
  for (const anchor of document.querySelectorAll('#nav a')) {
    anchor.classList.toggle('active', hash.startsWith(anchor.getAttribute('href')));
  }
  for (const [pattern, page] of routes) {
    const match = hash.match(pattern);
    if (match) {
      replace(main);
      stop = page(main, match.slice(1).map(decodeURIComponent)) || (() => {});
      return;
    }
  }
  replace(main, errorBox(`no such page: ${hash}`));
  stop = () => {};
}

window.addEventListener('hashchange', render);
render();
