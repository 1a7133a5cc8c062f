"""Every known way for a JavaScript function to reach the host realm of its Node runner, in
one place. Each vector is a function that gathers the objects the attack yields and checks
each with ``realm(o)``: an object whose prototype chain ends at another realm's
``Object.prototype`` (the host's, from which ``constructor.constructor`` reaches ``process``)
is reported ``HOST``. A vector passes when the call succeeds and nothing it found is ``HOST``.

Sources of the vectors: the vm2 and safe-eval escape reports (constructor chains through
provided functions and thrown host errors, ``import()`` rejections, ``prepareStackTrace``
call sites, stack-overflow errors, proxies in thrown values), and node's own notes on the vm
module (timers, microtasks, wasm, code generation).
"""

from __future__ import annotations

import json

import pytest

from faas_trio.core.records import JobState, Runtime
from faas_trio.worker.execution import run_job
from faas_trio.worker.pool import WarmPool

from .conftest import MakeDispatch, needs_node

pytestmark = needs_node

#: Defined before each vector: ``realm(o)`` says where ``o`` comes from, without running any
#: code of ``o`` (no getters: own data properties and prototypes only).
REALM = r"""
const ownObjectPrototype = Object.prototype;
const ownFunction = Function;
function realm(o) {
  if (o === null || (typeof o !== 'object' && typeof o !== 'function')) return 'value';
  let root = o;
  for (let next = Object.getPrototypeOf(root); next !== null; next = Object.getPrototypeOf(root)) {
    root = next;
  }
  if (root === ownObjectPrototype) return 'context';
  if (Object.getOwnPropertyNames(root).includes('hasOwnProperty')) {
    // Another realm's Object.prototype: try the classic way out, to show what it gives.
    let tried;
    try { tried = typeof root.constructor.constructor('return process')(); }
    catch (e) { tried = 'blocked'; }
    return 'HOST (process: ' + tried + ')';
  }
  return 'null-prototype';
}
function realms(list) { return list.map(realm); }
"""

#: name -> the vector's source (it defines ``f``, returning a list of realm(...) verdicts or
#: plain strings). Loaded as a function's whole source, so top-level code runs at load.
VECTORS: dict[str, str] = {
    "constructor chain of this and globalThis": """
function f() { return realms([this, globalThis, Object, Function]); }""",
    "constructor chain of the provided functions": """
function f() {
  return realms([setTimeout, setInterval, clearTimeout, clearInterval, queueMicrotask,
                 console, console.log]);
}""",
    "Function constructor from the context itself": """
function f() {
  const out = [];
  for (const F of [Function, (async function () {}).constructor, (function* () {}).constructor]) {
    try { F('return 1')(); out.push('compiled'); } catch (e) { out.push(e.name + ' ' + realm(e)); }
  }
  try { eval('1'); out.push('eval ran'); } catch (e) { out.push(e.name + ' ' + realm(e)); }
  return out;
}""",
    "import() rejection and promise": """
async function f() {
  const p = import('fs');
  const out = [realm(p)];
  try { await p; out.push('imported'); } catch (e) { out.push(realm(e), realm(e.constructor)); }
  return out;
}""",
    "import() of a node builtin scheme, in a timer": """
function f() {
  return new Promise((resolve) => setTimeout(() => {
    import('node:child_process').then(() => resolve(['imported']),
                                      (e) => resolve([realm(e), String(e.message)]));
  }, 1));
}""",
    "import() at load time, before any call": """
let leaked = null;
import('fs').catch((e) => { leaked = e; });
function f() { return [realm(leaked)]; }""",
    "stack overflow error": """
function f() {
  function down() { down(); }
  try { down(); return ['no overflow']; } catch (e) { return [realm(e), e.name]; }
}""",
    "stack overflow inside a builtin": """
function f() {
  let a = [];
  for (let i = 0; i < 200000; i++) a = [a];
  try { JSON.stringify(a); return ['no overflow']; } catch (e) { return [realm(e), e.name]; }
}""",
    "Error.prepareStackTrace call sites": """
function f() {
  Error.prepareStackTrace = (error, sites) => sites;
  const sites = new Error().stack;
  Error.prepareStackTrace = undefined;
  const out = [];
  for (const site of sites) {
    out.push(realm(site));
    for (const get of ['getThis', 'getFunction', 'getTypeName']) {
      try { out.push(realm(site[get]())); } catch (e) { out.push(realm(e)); }
    }
  }
  return out;
}""",
    "Error.prepareStackTrace on a thrown overflow": """
function f() {
  let seen = [];
  Error.prepareStackTrace = (error, sites) => {
    seen = seen.concat([realm(error)], sites.map((s) => realm(s.getThis())));
    return 'formatted';
  };
  function down() { down(); }
  try { down(); } catch (e) { seen.push(String(e.stack)); }
  Error.prepareStackTrace = undefined;
  return seen;
}""",
    "Error.captureStackTrace on a plain object": """
function f() {
  const holder = {};
  Error.prepareStackTrace = (error, sites) => sites.map((s) => realm(s.getFunction()));
  Error.captureStackTrace(holder);
  const found = holder.stack;
  Error.prepareStackTrace = undefined;
  return found;
}""",
    "caller chains of a sloppy function": """
function f() {
  const out = [];
  try { out.push(realm(f.caller)); } catch (e) { out.push(realm(e)); }
  try { out.push(realm(arguments.callee.caller)); } catch (e) { out.push(realm(e)); }
  return out;
}""",
    "promises, async functions and thenables": """
async function f() {
  const resolvers = await new Promise((resolve) => {
    Promise.resolve({ then(ok, ko) { resolve([ok, ko]); } });
  });
  return realms([Promise.resolve(), (async () => {})(), ...resolvers]);
}""",
    "timer callbacks: this and arguments": """
function f() {
  return new Promise((resolve) => {
    setTimeout(function (...args) { resolve(realms([this, ...args, arguments])); }, 1, 'x');
  });
}""",
    "microtasks": """
function f() {
  return new Promise((resolve) => queueMicrotask(function () {
    resolve(realms([this, arguments]));
  }));
}""",
    "wasm compilation errors": """
async function f() {
  const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]);
  const out = [];
  try { new WebAssembly.Module(bytes); out.push('compiled'); } catch (e) { out.push(realm(e)); }
  try { await WebAssembly.compile(bytes); out.push('compiled'); } catch (e) { out.push(realm(e)); }
  return out;
}""",
    "host globals": """
function f() {
  return ['process', 'require', 'module', 'global', 'Buffer', 'fetch', 'structuredClone',
          'setImmediate', 'WebAssembly'].map((name) => name + ':' + typeof globalThis[name]);
}""",
    "a thrown Proxy whose prototype trap never ends": """
function f() {
  throw new Proxy(new Error('proxied'), { getPrototypeOf() { for (;;) {} } });
}""",
}

#: What a vector may find instead of context objects (never a HOST verdict).
_HOST = "HOST"


@pytest.mark.parametrize("name", list(VECTORS))
async def test_no_host_object_reaches_user_code(
    pool: WarmPool, make_dispatch: MakeDispatch, name: str
) -> None:
    source = REALM + VECTORS[name]
    outcome = await run_job(
        pool,
        make_dispatch(source, runtime=Runtime.NODE, timeout=2.0),
        log_cap=1 << 16,
        result_cap=1 << 20,
    )
    found = outcome.value if outcome.state is JobState.SUCCEEDED else outcome.result
    assert _HOST not in (found or ""), f"{name}: {found}"
    assert _HOST not in outcome.logs, f"{name}: {outcome.logs}"
    if name == "a thrown Proxy whose prototype trap never ends":
        # Described inside the context, never by running its traps untimed in the host
        # (which would hang the runner until the worker's deadline).
        assert (outcome.state, outcome.error) == (JobState.FAILED, "Error: proxied"), outcome
        return
    assert outcome.state is JobState.SUCCEEDED, f"{name}: {outcome.result} {outcome.logs}"
    verdicts = json.loads(outcome.value or "[]")
    assert verdicts, name
    if name == "host globals":
        assert verdicts[:5] == [f"{n}:undefined" for n in
                                ("process", "require", "module", "global", "Buffer")]  # fmt: skip
    if name.startswith("import()"):
        assert "imported" not in verdicts


async def test_the_old_systems_functions_still_run(
    pool: WarmPool, make_dispatch: MakeDispatch
) -> None:
    """The old API's examples: sync and async functions, setTimeout, a thrown error."""
    for source, args, result in [
        ("async function add(a,b){ return a+b; }", "[4,7]", "11"),
        (
            "function add(a, b) { return new Promise((r) => setTimeout(() => r(a + b), 50)); }",
            "[4,7]",
            "11",
        ),
        ("function rev(s) { return s.split('').reverse().join(''); }", '["abc"]', "cba"),
        ("function f(o) { return Object.keys(o).length; }", '[{"a":1,"b":2}]', "2"),
    ]:
        outcome = await run_job(
            pool, make_dispatch(source, args, runtime=Runtime.NODE, name="add"),
            log_cap=4096, result_cap=1 << 20,
        )  # fmt: skip
        assert (outcome.state, outcome.result) == (JobState.SUCCEEDED, result), source
