import { newQuickJSWASMModule, newVariant, RELEASE_SYNC, type QuickJSContext, type QuickJSHandle, type QuickJSRuntime, type QuickJSWASMModule } from 'quickjs-emscripten';
import { performance } from 'node:perf_hooks';
import { ChartdError } from '../../errors.js';
import { MIB } from '../limits.js';
import { snapshotArguments, snapshotThis } from './callback-arguments.js';
import { MARKERS } from './markers.js';
import { PRELUDE } from './prelude.js';

/** Bounds of one render's sandbox. */
export interface ScriptLimits {
  /** Memory the sandbox's heap may use. */
  maxScriptMemoryBytes: number;
  /** Time the sandbox may run over the whole render: evaluating the config and every callback. */
  maxScriptTimeMs: number;
  /** Callbacks Chart.js and its plugins may call over the whole render. */
  maxScriptCalls: number;
  /** JSON text of what the config evaluates to, or of one callback's result. */
  maxScriptOutputBytes: number;
}

let engine: QuickJSWASMModule | undefined;
let loading: Promise<QuickJSWASMModule> | undefined;
let live = 0;
let engineReplacements = 0;

/** QuickJS's own stack limit: well inside V8's, so most deep recursion stops in the sandbox. */
const SANDBOX_STACK_BYTES = 256 * 1024;

const WASM_PAGE_BYTES = 64 * 1024;

/**
 * The most WebAssembly memory one engine may hold: the heaps of all its sandboxes
 * together (a worker runs one at a time; the library may run a few), beside the
 * engine's own 16 MiB. QuickJS's allocator limit counts 8 bytes a block in this
 * build, and the heap walk (see #heapBytes) runs only when QuickJS polls for an
 * interrupt, every ~10,000 calls or loop turns: a loop of 1 MiB strings made
 * between two polls grew an engine to the build's own maximum, 2 GiB, in 21 s.
 * With the cap, that allocation fails (SCRIPT_OUT_OF_MEMORY) at 128 MiB, in
 * about a second. A `maxScriptMemoryBytes` above ~100 MiB is bounded by it.
 */
export const ENGINE_MEMORY_MAX_BYTES = 128 * MIB;
/** What this QuickJS build starts with (its INITIAL_MEMORY); a memory given to it may not be smaller. */
const ENGINE_INITIAL_BYTES = 16 * MIB;
/**
 * WebAssembly memory never shrinks: an engine that grew past this is retired when
 * a sandbox ends, and its memory goes with its last sandbox.
 */
export const ENGINE_MEMORY_RETIRE_BYTES = 48 * MIB;

/** WebAssembly.Memory: the compiler's libraries here do not declare WebAssembly, Node has it. */
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new (descriptor: { initial: number; maximum: number }) => never } }).WebAssembly.Memory;

/**
 * Loads the WebAssembly JavaScript engine (QuickJS), ~20 ms; again after one was
 * retired. Workers do it while warming up; the library before a config that needs it.
 */
export async function loadScriptEngine(): Promise<void> {
  loading ??= newQuickJSWASMModule(
    newVariant(RELEASE_SYNC, { wasmMemory: new WasmMemory({ initial: ENGINE_INITIAL_BYTES / WASM_PAGE_BYTES, maximum: ENGINE_MEMORY_MAX_BYTES / WASM_PAGE_BYTES }) }),
  ).then((module) => (engine = module));
  await loading;
}

/** Bytes of WebAssembly memory the current engine holds (0 before one is loaded). */
export function scriptEngineMemoryBytes(): number {
  return engine?.getWasmMemory().buffer.byteLength ?? 0;
}

/** Sandboxes alive now in this process: 0 between renders, or a leak. */
export function liveScriptSessions(): number {
  return live;
}

/** Engines retired after a script broke one (see retireEngine): 0 in a quiet process. */
export function scriptEngineReplacements(): number {
  return engineReplacements;
}

/**
 * Drops a WebAssembly engine instance that a script may have left inconsistent:
 * a stack overflow in QuickJS can leak objects (freeing the runtime then aborts),
 * and one in V8's own frames (deep JSON.stringify) traps out of the module
 * mid-call. Nothing runs in it again; the next sandbox gets a fresh instance, and
 * the old one's memory goes with its last reference.
 */
function retireEngine(module: QuickJSWASMModule): void {
  if (engine !== module) return;
  engine = undefined;
  loading = undefined;
  engineReplacements++;
}

/** An exception from the engine itself rather than from the script: the instance is not to be trusted. */
function isEngineFault(error: unknown): boolean {
  if (error instanceof ChartdError) return false;
  if (error instanceof RangeError) return true; // V8's stack overflowed inside WebAssembly frames
  if (error instanceof Error && error.name === 'RuntimeError') return true; // a WebAssembly trap
  return error instanceof Error && error.message.startsWith('Aborted(');
}

/**
 * One render's JavaScript sandbox: a QuickJS runtime and context in WebAssembly,
 * with a memory limit, a time budget for the whole render and a cap on callback
 * calls. It evaluates a JavaScript-literal config, hands back plain data with
 * markers where functions and helpers were, and runs those functions when
 * Chart.js calls their stubs. Nothing of the host reaches it: arguments are
 * JSON snapshots. Dispose it (renderJob does, on every path).
 */
export class ScriptSession implements Disposable {
  readonly #limits: ScriptLimits;
  readonly #module: QuickJSWASMModule;
  readonly #runtime: QuickJSRuntime;
  readonly #context: QuickJSContext;
  readonly #bridge: { exportConfig: QuickJSHandle; call: QuickJSHandle };
  readonly #sentScales = new Set<string>();
  #remainingMs: number;
  #calls = 0;
  /** After a timeout or out-of-memory the sandbox is not to be trusted again: every later call fails the same way. */
  #broken: ChartdError | undefined;
  #disposed = false;
  /** The config text last evaluated, to point at where a syntax error is. */
  #configText = '';
  /** Why the interrupt handler stopped the script: time (the default) or memory. */
  #interruptedForMemory = false;
  /** The engine faulted or the stack overflowed: never call into this runtime again, not even to free it. */
  #abandoned = false;

  constructor(limits: ScriptLimits) {
    if (!engine) throw new ChartdError('INTERNAL', 'the script engine is not loaded: await loadScriptEngine() first');
    this.#limits = limits;
    this.#remainingMs = limits.maxScriptTimeMs;
    this.#module = engine;
    this.#runtime = engine.newRuntime();
    this.#runtime.setMemoryLimit(limits.maxScriptMemoryBytes);
    this.#runtime.setMaxStackSize(SANDBOX_STACK_BYTES);
    this.#context = this.#runtime.newContext();
    live++;
    try {
      this.#evaluateVoid(PRELUDE, 'prelude.js');
      const bridge = this.#context.getProp(this.#context.global, MARKERS.bridge);
      this.#bridge = { exportConfig: this.#context.getProp(bridge, 'exportConfig'), call: this.#context.getProp(bridge, 'call') };
      bridge.dispose();
    } catch (error) {
      this[Symbol.dispose]();
      throw error;
    }
  }

  /**
   * Evaluates config text as one JavaScript expression; returns it as plain data
   * (JSON), with markers for functions, Dates and helpers. The chart's size is what
   * QuickChart's gradient helpers measure against.
   */
  evaluateConfig(text: string, width: number, height: number): unknown {
    return this.#run(() => {
      const context = this.#context;
      // A config pasted from code often ends with a semicolon: one expression, without it.
      this.#configText = text;
      const result = context.evalCode(`(${text.replace(/;\s*$/, '')}\n)`, 'chart.js');
      const value = this.#unwrap(result, 'the config');
      const sizes = [context.newNumber(width), context.newNumber(height)];
      try {
        return this.#decodeText(this.#unwrap(context.callFunction(this.#bridge.exportConfig, context.undefined, value, ...sizes), 'the config'));
      } finally {
        value.dispose();
        for (const handle of sizes) handle.dispose();
      }
    });
  }

  /** Calls callback `id` for Chart.js: `self` and `args` cross as snapshots; the result comes back as plain data with markers. */
  call(id: number, self: unknown, args: unknown[]): unknown {
    if (++this.#calls > this.#limits.maxScriptCalls) {
      throw new ChartdError('SCRIPT_TOO_MANY_CALLS', `the config's functions were called more than ${this.#limits.maxScriptCalls} times in one render`);
    }
    return this.#run(() => {
      const context = this.#context;
      const handles = [context.newNumber(id), context.newString(snapshotThis(self, this.#sentScales)), context.newString(snapshotArguments(args))];
      try {
        return this.#decodeText(this.#unwrap(context.callFunction(this.#bridge.call, context.undefined, ...handles), 'a callback'));
      } finally {
        for (const handle of handles) handle.dispose();
      }
    });
  }

  get calls(): number {
    return this.#calls;
  }

  /** Never part of a job's JSON (an ETag): the config text is. */
  toJSON(): undefined {
    return undefined;
  }

  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    live--;
    if (this.#abandoned) return; // its engine is retired: it goes when its last reference does
    try {
      // Every handle before its context, the context before its runtime: QuickJS aborts on a leaked handle.
      this.#bridge?.exportConfig.dispose();
      this.#bridge?.call.dispose();
      this.#context.dispose();
      this.#runtime.dispose();
    } catch {
      retireEngine(this.#module);
      return;
    }
    if (this.#module.getWasmMemory().buffer.byteLength > ENGINE_MEMORY_RETIRE_BYTES) retireEngine(this.#module);
  }

  /** Leaves this runtime and its engine alone from now on (see retireEngine). */
  #abandon(): void {
    this.#abandoned = true;
    retireEngine(this.#module);
  }

  #evaluateVoid(code: string, filename: string): void {
    this.#unwrap(this.#context.evalCode(code, filename), filename).dispose();
  }

  /** Runs sandbox code within what is left of the render's time budget. */
  #run<T>(body: () => T): T {
    if (this.#disposed) throw new ChartdError('INTERNAL', 'the render\'s sandbox was already disposed');
    if (this.#broken) throw this.#broken;
    if (this.#remainingMs <= 0) throw this.#fail(timeout(this.#limits));
    const started = performance.now();
    const deadline = started + this.#remainingMs;
    this.#runtime.setInterruptHandler(() => {
      if (performance.now() > deadline) return true;
      this.#interruptedForMemory = this.#heapBytes() > this.#limits.maxScriptMemoryBytes;
      return this.#interruptedForMemory;
    });
    try {
      return body();
    } catch (error) {
      if (isEngineFault(error)) {
        this.#abandon();
        throw this.#fail(new ChartdError('SCRIPT_STACK_OVERFLOW', "the config's JavaScript recursed or nested too deeply for the sandbox (stack overflow)"));
      }
      if (error instanceof ChartdError && (error.code === 'SCRIPT_TIMEOUT' || error.code === 'SCRIPT_OUT_OF_MEMORY' || error.code === 'SCRIPT_STACK_OVERFLOW')) {
        throw this.#fail(error);
      }
      throw error;
    } finally {
      this.#remainingMs -= performance.now() - started;
    }
  }

  /**
   * The sandbox's heap as QuickJS's own walk measures it. Its allocator limit
   * (setMemoryLimit) refuses any one allocation past the limit, but in this
   * WebAssembly build it counts the heap 8 bytes a block (it cannot read malloc's
   * block sizes): a script of many small allocations would pass it unseen. So
   * the heap is also measured whenever QuickJS checks for an interrupt (every
   * ~10 ms of a busy script; ~0.5 ms a walk of a 32 MiB heap).
   */
  #heapBytes(): number {
    const used = /^memory used\s+\d+\s+(\d+)/m.exec(this.#runtime.dumpMemoryUsage());
    return used ? Number(used[1]) : 0;
  }

  #fail(error: ChartdError): ChartdError {
    this.#broken = error;
    return error;
  }

  #unwrap(result: { value: QuickJSHandle } | { error: QuickJSHandle }, what: string): QuickJSHandle {
    if ('value' in result) return result.value;
    const dumped = this.#context.dump(result.error) as DumpedError | string;
    result.error.dispose();
    throw this.#toError(dumped, what);
  }

  #decodeText(handle: QuickJSHandle): unknown {
    let text: string;
    try {
      text = this.#context.getString(handle);
    } finally {
      handle.dispose();
    }
    if (text.length > this.#limits.maxScriptOutputBytes) {
      throw new ChartdError('SCRIPT_ERROR', `a function of the config returned ${text.length} characters of data, over the limit of ${this.#limits.maxScriptOutputBytes}`);
    }
    return (JSON.parse(text) as { v: unknown }).v;
  }

  /** " (line 1 column 35, near "...")" from QuickJS's stack line; the config was wrapped in "(" on line 1. */
  #locate(stack: string | undefined): string {
    const match = /chart\.js:(\d+):(\d+)/.exec(stack ?? '');
    if (!match) return '';
    const line = Number(match[1]);
    const column = Number(match[2]) - (line === 1 ? 1 : 0);
    const text = this.#configText.split('\n')[line - 1] ?? '';
    const start = Math.max(0, column - 21);
    return ` (line ${line} column ${column}, near "${text.slice(start, column + 20).trim()}")`;
  }

  #toError(dumped: DumpedError | string, what: string): ChartdError {
    const name = typeof dumped === 'object' && dumped ? String(dumped.name ?? 'Error') : 'Error';
    const message = typeof dumped === 'object' && dumped ? String(dumped.message ?? '') : String(dumped);
    const outOfMemory = () => new ChartdError('SCRIPT_OUT_OF_MEMORY', `the config's JavaScript needed more than ${Math.round(this.#limits.maxScriptMemoryBytes / 1024 / 1024)} MiB`);
    if (name === 'InternalError' && message === 'interrupted') return this.#interruptedForMemory ? outOfMemory() : timeout(this.#limits);
    if (message === 'stack overflow') {
      // QuickJS can leak objects on this path, and then aborts when the runtime is freed.
      this.#abandon();
      return new ChartdError('SCRIPT_STACK_OVERFLOW', `${what === 'the config' ? "the config's JavaScript" : what} recursed or nested too deeply for the sandbox (stack overflow)`);
    }
    if (name === 'InternalError' && message === 'out of memory') return outOfMemory();
    if (name === 'SyntaxError' && what === 'the config') {
      const where = typeof dumped === 'object' ? this.#locate(dumped.stack) : '';
      return new ChartdError('CONFIG_SYNTAX', `chart is neither JSON nor a JavaScript expression: ${message.slice(0, 300)}${where}`);
    }
    return new ChartdError('SCRIPT_ERROR', `${what} threw ${name}: ${message.slice(0, 300)}`);
  }
}

interface DumpedError {
  name?: string;
  message?: string;
  /** QuickJS puts a syntax error's place here: "    at chart.js:1:36". */
  stack?: string;
}

function timeout(limits: ScriptLimits): ChartdError {
  return new ChartdError('SCRIPT_TIMEOUT', `the config's JavaScript ran for more than ${limits.maxScriptTimeMs} ms in one render`);
}
