// The child process that runs one user's JavaScript function, kept warm between calls.
//
// Run as `node --max-old-space-size=<memory_mb> node_runner.js <log_cap>` in a sandbox forked
// by faas_trio/worker/sandbox/zygote.py; the worker drives it through sandbox/process.py.
// Protocol: the runner frames of sandbox/protocol.py (4-byte big-endian length, then UTF-8
// JSON), requests on stdin, replies on stdout; exits when stdin ends. A reply is a flat object
// of strings and booleans only: ok, logs, value, text, error, message, timeout.
//
// - {"op":"load","name":n,"source":s,"timeout":t} runs the source in a fresh vm context and
//   picks the function to call: the binding named n if it is a function, else the function
//   declared last at top level. -> {"ok":true} or {"ok":false,"error":"SyntaxError: ..."}.
// - {"op":"batch","args":["<JSON array>",...],"timeout":t,"result_cap":b} makes one such call
//   per item, back to back, writing each one's reply as it ends; it stops after a timeout.
// - {"op":"call","args":"<JSON array>","timeout":t,"result_cap":b} calls it.
//   -> {"ok":true,"value":"<JSON>","text":...,"logs":...} or {"ok":false,"error":"Name: msg",
//   "message":msg,...}, with "timeout":true when t seconds passed (the worker then kills this
//   process). A value of `undefined` gives value "null" and text "undefined"; a value JSON
//   cannot encode (a cycle, a BigInt, a function) is sent as the JSON string of String(value);
//   one over result_cap bytes fails the call (ResultTooLarge). The worker measures durations.
//
// Isolation: no object of this (the host's) realm may reach user code, since a host
// function's .constructor is the host Function, from which `x.constructor.constructor('return
// process')()` reaches the process. So:
// - the context is made from a null-prototype object and receives NO host function or object:
//   timers and console are implemented by code evaluated inside the context (PRELUDE), and only
//   strings cross back to the host (JSON made inside the context, checked with typeof);
// - every script is compiled with an importModuleDynamically callback (which needs node's
//   --experimental-vm-modules) that rejects import() with an error made in the context: without
//   it, node rejects with a host error;
// - the context runs with code generation from strings and wasm off, and node itself runs with
//   --disallow-code-generation-from-strings, so even a host Function that leaked could not
//   compile anything;
// - values thrown or returned by user code are never inspected here (no instanceof, which
//   would run a Proxy's traps outside any timeout): they are described inside the context.
// The host drives the in-context timer queue: it evaluates `__faas_tick()` repeatedly, each run
// under a vm timeout, sleeping on a host timer until the next timer is due.
// tests/worker/test_node_escapes.py runs every known way out.
'use strict';

const fs = require('fs');
const vm = require('vm');
const { types } = require('util');
const { performance } = require('perf_hooks');

const LOG_CAP = Math.max(1024, Number(process.argv[2]) || 1048576);
// protocol.MAX_ERROR_CHARS: characters of an error or message sent at most.
const MAX_ERROR_CHARS = 16384;
// How long a call with nothing left to run may wait for the host to settle its promise, ms.
const IDLE_GRACE_MS = 100;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

const PRELUDE = `(function (global, logCap) {
  'use strict';
  const now = Date.now;
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const define = Object.defineProperty;
  const keysOf = Object.getOwnPropertyNames;
  const timers = new Map();
  let nextTimer = 1;
  let order = 0;
  let logs = [];
  let logSize = 0;
  let truncated = false;
  let outcome = null;
  let before = null;
  let chosen = null;

  function show(v) {
    if (typeof v === 'string') return v;
    if (v instanceof Error) return v.stack || (v.name + ': ' + v.message);
    if (typeof v === 'function') return '[Function: ' + (v.name || 'anonymous') + ']';
    if (typeof v === 'bigint') return String(v) + 'n';
    if (v === undefined || typeof v === 'symbol') return String(v);
    try { const s = stringify(v); return s === undefined ? String(v) : s; }
    catch (e) { return String(v); }
  }
  function log(...items) {
    if (truncated) return;
    const line = items.map(show).join(' ') + '\\n';
    if (logSize + line.length > logCap) {
      logs.push(line.slice(0, Math.max(0, logCap - logSize)));
      truncated = true;
    } else {
      logs.push(line);
    }
    logSize += line.length;
  }
  function takeLogs() {
    const text = logs.join('') + (truncated ? '\\n[… output truncated]\\n' : '');
    logs = []; logSize = 0; truncated = false;
    return text;
  }
  function describe(e) {
    let name = 'Error';
    let message;
    try {
      if (e !== null && (typeof e === 'object' || typeof e === 'function')) {
        name = String(e.name || 'Error');
        message = String(e.message === undefined ? e : e.message);
      } else {
        message = String(e);
      }
    } catch (inner) {
      message = 'unprintable error';
    }
    return { error: name + ': ' + message, message: message };
  }
  function encodeValue(v) {
    if (v === undefined) return { value: 'null', text: 'undefined' };
    let json;
    try { json = stringify(v); } catch (e) { json = undefined; }
    if (json === undefined) return { value: stringify(String(v)), text: String(v) };
    return { value: json, text: typeof v === 'string' ? v : json };
  }
  function settle(ok, v) {
    if (outcome !== null) return;
    try {
      outcome = ok ? Object.assign({ ok: true }, encodeValue(v)) : Object.assign({ ok: false }, describe(v));
    } catch (e) {
      outcome = Object.assign({ ok: false }, describe(e));
    }
  }
  function addTimer(callback, delay, args, repeat) {
    if (typeof callback !== 'function') throw new TypeError('callback must be a function');
    const ms = Math.max(0, Number(delay) || 0);
    const id = nextTimer++;
    timers.set(id, { callback, args, ms, due: now() + ms, order: order++, repeat });
    return id;
  }
  const console = { log, info: log, warn: log, error: log, debug: log, trace: log };
  const hidden = {
    setTimeout(cb, ms, ...args) { return addTimer(cb, ms, args, false); },
    setInterval(cb, ms, ...args) { return addTimer(cb, Math.max(1, Number(ms) || 0), args, true); },
    clearTimeout(id) { timers.delete(id); },
    clearInterval(id) { timers.delete(id); },
    queueMicrotask(cb) { Promise.resolve().then(() => cb()); },
  };
  for (const name of keysOf(hidden)) {
    define(global, name, { value: hidden[name], writable: true, configurable: true });
  }
  define(global, 'console', { value: console, writable: true, configurable: true });

  function fixed(name, fn) {
    define(global, name, { value: fn, writable: false, configurable: false, enumerable: false });
  }
  // Where the host puts a call's arguments (a string) before it runs START: a data property
  // that code in the context cannot turn into an accessor, so the host's write runs none of it.
  define(global, '__faas_args', { value: '[]', writable: true, configurable: false, enumerable: false });
  fixed('__faas_snapshot', function () { before = new Set(keysOf(global)); return ''; });
  fixed('__faas_choose', function (candidate) {
    if (typeof candidate === 'function') { chosen = candidate; return stringify({ ok: true }); }
    let last = null;
    for (const key of keysOf(global)) {
      if (before !== null && before.has(key)) continue;
      let v;
      try { v = global[key]; } catch (e) { continue; }
      if (typeof v === 'function') last = v;
    }
    if (last === null) {
      return stringify({ ok: false, error: 'ReferenceError: no function found in the source', message: 'no function found in the source' });
    }
    chosen = last;
    return stringify({ ok: true });
  });
  fixed('__faas_describe', function (e) { return stringify(describe(e)); });
  fixed('__faas_logs', function () { return takeLogs(); });
  fixed('__faas_start', function (argsText) {
    outcome = null;
    timers.clear();
    try {
      const args = parse(argsText);
      if (!Array.isArray(args)) throw new TypeError('arguments must be a JSON array');
      if (chosen === null) throw new Error('no function loaded');
      const r = chosen(...args);
      if (r !== null && (typeof r === 'object' || typeof r === 'function') && typeof r.then === 'function') {
        Promise.resolve(r).then((v) => settle(true, v), (e) => settle(false, e));
      } else {
        settle(true, r);
      }
    } catch (e) {
      settle(false, e);
    }
    // A function that returned a value is done: its reply now saves the host a tick.
    return outcome === null ? '' : takeSettled();
  });
  function takeSettled() {
    const reply = Object.assign({ state: 'settled', logs: takeLogs() }, outcome);
    outcome = null;
    timers.clear();
    return stringify(reply);
  }
  fixed('__faas_tick', function () {
    if (outcome !== null) return takeSettled();
    let next = null;
    for (const [id, t] of timers) {
      if (next === null || t.due < next.t.due || (t.due === next.t.due && t.order < next.t.order)) next = { id, t };
    }
    if (next === null) return stringify({ state: 'idle' });
    const wait = next.t.due - now();
    if (wait > 0) return stringify({ state: 'pending', wait });
    if (next.t.repeat) {
      next.t.due = now() + next.t.ms;
      next.t.order = order++;
    } else {
      timers.delete(next.id);
    }
    // One timer per evaluation: the context's microtasks then run before the next one, as
    // they would between two timers in Node.
    next.t.callback(...next.t.args);
    return stringify({ state: 'ran' });
  });
})`;

let context = null;

function hostError(e) {
  // Only host-realm errors are inspected. The prototype chain is walked without running any
  // user code: a Proxy anywhere in it (whose traps would run here, untimed) is not ours.
  let link = e;
  for (let depth = 0; depth < 64; depth++) {
    if (link === null || (typeof link !== 'object' && typeof link !== 'function')) return false;
    if (types.isProxy(link)) return false;
    link = Object.getPrototypeOf(link);
    if (link === Error.prototype) return true;
  }
  return false;
}

// The error every import() is rejected with, made in the context before any user code runs.
let importRefusal = null;

function refuseImport() {
  throw importRefusal;
}

function compile(code, filename) {
  return new vm.Script(code, {
    filename: filename || 'faas-runner.js',
    importModuleDynamically: refuseImport,
  });
}

function run(script, timeoutMs) {
  return script.runInContext(context, { timeout: Math.max(1, Math.ceil(timeoutMs)) });
}

function evaluate(code, timeoutMs, filename) {
  return run(compile(code, filename), timeoutMs);
}

// A call's start, compiled once: the arguments travel in __faas_args, not in the source, since
// compiling a script per call cost more than the call itself (a map runs many).
const START = compile('__faas_start(globalThis.__faas_args)');

function evaluateString(code, timeoutMs) {
  const result = evaluate(code, timeoutMs);
  if (typeof result !== 'string') throw new Error('sandbox returned a non-string');
  return result;
}

function describeThrown(e, timeoutMs) {
  if (hostError(e)) return { error: `${e.name}: ${e.message}`, message: e.message };
  try {
    context.__faas_thrown = e;
    return JSON.parse(evaluateString('__faas_describe(globalThis.__faas_thrown)', timeoutMs));
  } catch (inner) {
    return { error: 'Error: uncaught exception', message: 'uncaught exception' };
  }
}

function timeoutReply(seconds, logs) {
  const message = `timed out after ${seconds}s`;
  return { ok: false, timeout: true, error: `TimeoutError: ${message}`, message, logs };
}

function safeLogs() {
  try { return evaluateString('__faas_logs()', 1000); } catch (e) { return ''; }
}

function load(request) {
  const seconds = Number(request.timeout) || 10;
  const name = String(request.name || '');
  context = vm.createContext(Object.create(null), {
    codeGeneration: { strings: false, wasm: false },
    microtaskMode: 'afterEvaluate',
  });
  importRefusal = evaluate(
    'Object.freeze(new TypeError("import() is not available: a function has no modules"))', 1000,
  );
  evaluate(`${PRELUDE}(globalThis, ${LOG_CAP})`, 5000);
  evaluate('__faas_snapshot()', 1000);
  const deadline = performance.now() + seconds * 1000;
  try {
    evaluate(String(request.source || ''), seconds * 1000, `${name || 'function'}.js`);
  } catch (e) {
    // The vm's timeout error is made in the context's realm, so it is recognised by the
    // clock rather than by inspecting it.
    if (performance.now() >= deadline - 1) return timeoutReply(seconds, safeLogs());
    return Object.assign({ ok: false, logs: safeLogs() }, describeThrown(e, 1000));
  }
  let pick = '__faas_choose(undefined)';
  if (IDENTIFIER.test(name)) pick = `__faas_choose(typeof ${name} === 'function' ? ${name} : undefined)`;
  let chosen;
  try {
    chosen = JSON.parse(evaluateString(pick, 1000));
  } catch (e) {
    chosen = JSON.parse(evaluateString('__faas_choose(undefined)', 1000));
  }
  return Object.assign(chosen, { logs: safeLogs() });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function call(request) {
  const seconds = Number(request.timeout) || 30;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const resultCap = Number(request.result_cap) || 0;
  const finish = (reply) => capResult(reply, resultCap);
  if (context === null) {
    return finish({ ok: false, error: 'Error: no function loaded', message: 'no function loaded', logs: '' });
  }
  try {
    context.__faas_args = String(request.args || '[]');
    const first = run(START, deadline - performance.now());
    if (typeof first !== 'string') throw new Error('sandbox returned a non-string');
    if (first !== '') {  // it returned a value: settled at once
      const state = JSON.parse(first);
      delete state.state;
      return finish(state);
    }
    let idleSince = null;
    for (;;) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) return finish(timeoutReply(seconds, safeLogs()));
      const state = JSON.parse(evaluateString('__faas_tick()', remaining));
      if (state.state === 'settled') {
        delete state.state;
        return finish(state);
      }
      if (state.state === 'pending') {
        idleSince = null;
        await sleep(Math.min(Math.max(0, state.wait), remaining));
      } else if (state.state === 'idle') {
        // No timer left, but work of the host may still settle a promise (an import() being
        // refused, a wasm compilation): give it a moment before deciding nothing will.
        idleSince = idleSince === null ? performance.now() : idleSince;
        if (performance.now() - idleSince > IDLE_GRACE_MS) {
          const message = 'function returned a promise that never settles';
          return finish({ ok: false, error: `Error: ${message}`, message, logs: safeLogs() });
        }
        await sleep(Math.min(2, remaining));
      }
    }
  } catch (e) {
    if (performance.now() >= deadline - 1) return finish(timeoutReply(seconds, safeLogs()));
    return finish(Object.assign({ ok: false, logs: safeLogs() }, describeThrown(e, 1000)));
  }
}

function capResult(reply, resultCap) {
  if (reply.ok !== true) return reply;
  const size = Math.max(Buffer.byteLength(reply.value, 'utf8'), Buffer.byteLength(reply.text, 'utf8'));
  if (size <= resultCap) return reply;
  const message = `the result is ${size} bytes, over the FAAS_RESULT_CAP of ${resultCap}`;
  return { ok: false, error: `ResultTooLarge: ${message}`, message, logs: reply.logs };
}

// Only the protocol's fields, as strings and booleans: the context's code chose the rest.
function protocolReply(reply) {
  const out = { ok: reply.ok === true, logs: typeof reply.logs === 'string' ? reply.logs : '' };
  for (const name of ['value', 'text']) {
    if (typeof reply[name] === 'string') out[name] = reply[name];
  }
  for (const name of ['error', 'message']) {
    if (typeof reply[name] === 'string') out[name] = reply[name].slice(0, MAX_ERROR_CHARS);
  }
  if (!out.ok && out.error === undefined) out.error = 'Error: unknown failure';
  if (reply.timeout === true) out.timeout = true;
  return out;
}

function writeFrame(message) {
  // Buffer.from writes a lone surrogate as U+FFFD: the frame is always valid UTF-8.
  const body = Buffer.from(JSON.stringify(protocolReply(message)), 'utf8');
  const frame = Buffer.alloc(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  let offset = 0;
  while (offset < frame.length) {
    try {
      offset += fs.writeSync(1, frame, offset, frame.length - offset);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
  }
}

// Writes the reply (or, for a batch, each item's reply as soon as it ends, up to the first
// that timed out: the worker then kills this process and runs the rest elsewhere).
async function handle(request) {
  if (request.op === 'load') return writeFrame(load(request));
  if (request.op === 'call') return writeFrame(await call(request));
  if (request.op === 'batch' && Array.isArray(request.args)) {
    for (const args of request.args) {
      const reply = await call({ args, timeout: request.timeout, result_cap: request.result_cap });
      writeFrame(reply);
      if (reply.timeout === true) return undefined;
    }
    return undefined;
  }
  return writeFrame({ ok: false, error: `Error: unknown op ${request.op}`, message: 'unknown op' });
}

let pending = Buffer.alloc(0);
let busy = false;

async function pump() {
  if (busy) return;
  busy = true;
  try {
    while (pending.length >= 4) {
      const length = pending.readUInt32BE(0);
      if (pending.length < 4 + length) break;
      const request = JSON.parse(pending.subarray(4, 4 + length).toString('utf8'));
      pending = pending.subarray(4 + length);
      await handle(request);
    }
  } finally {
    busy = false;
  }
}

// A promise the user's code leaves rejected must not end the process; its reason is a context
// value and is not inspected.
process.on('unhandledRejection', () => {});
process.stdin.on('data', (chunk) => {
  pending = Buffer.concat([pending, chunk]);
  pump().catch((e) => {
    process.stderr.write(`runner failure: ${hostError(e) ? e.stack : 'non-host value'}\n`);
    process.exit(70);
  });
});
process.stdin.on('end', () => process.exit(0));
