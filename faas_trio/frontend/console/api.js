// The REST API, as the console calls it. The user (and in keys mode the API key) live in
// this tab's sessionStorage only: closing the tab forgets them.

const store = window.sessionStorage;

export function credentials() {
  return { user: store.getItem('faas.user'), key: store.getItem('faas.key') };
}

export function signIn(user, key) {
  store.setItem('faas.user', user);
  if (key) store.setItem('faas.key', key);
  else store.removeItem('faas.key');
}

export function signOut() {
  store.removeItem('faas.user');
  store.removeItem('faas.key');
}

export class ApiError extends Error {
  constructor(status, message) {
    super(`${status}: ${message}`);
    this.status = status;
  }
}

function url(path, params) {
  const query = params ? new URLSearchParams(
    Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== '')).toString() : '';
  return query ? `${path}?${query}` : path;
}

// One request; the envelope's res, or ApiError with the platform's message.
export async function api(method, path, { body, params, type, text } = {}) {
  const headers = {};
  const { key } = credentials();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (type) headers['Content-Type'] = type;
  const response = await fetch(url(path, params), { method, headers, body, cache: 'no-store' });
  if (text) {
    if (!response.ok) throw new ApiError(response.status, await response.text());
    return response.text();
  }
  let data;
  try {
    data = await response.json();
  } catch {
    throw new ApiError(response.status, 'the answer is not a faas-trio answer');
  }
  if (data.error || !response.ok) {
    throw new ApiError(response.status, typeof data.res === 'string' ? data.res : JSON.stringify(data.res));
  }
  return data.res;
}

export function userPath(...parts) {
  return '/u/' + [credentials().user, ...parts].map(encodeURIComponent).join('/');
}

export function jobPath(id, ...rest) {
  return '/j/' + [id, ...rest].map(encodeURIComponent).join('/');
}

export function groupPath(id, ...rest) {
  return '/g/' + [id, ...rest].map(encodeURIComponent).join('/');
}

export const FINAL = new Set(['succeeded', 'failed', 'timeout', 'cancelled']);
