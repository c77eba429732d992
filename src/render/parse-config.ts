import JSON5 from 'json5';
import { ChartdError } from '../errors.js';
import type { RenderLimits } from './limits.js';
import { markerOf } from './script/markers.js';
import { ScriptSession } from './script/script-session.js';
import { describe, isPlainRecord } from '../values.js';

const FUNCTION_HELP =
  'this chartd does not run JavaScript in configs (--scripts off). Use declarative options instead: ' +
  'Chart.js 3+ `ticks.format` takes Intl.NumberFormat options (e.g. {"style":"percent"}), ' +
  'chartjs-plugin-datalabels has `display`, `anchor`, `align` and `font` options, ' +
  'and tooltips and legends have label options (docs/API.md, "Functions in configs")';

export interface ParsedConfig {
  config: Record<string, unknown>;
  /** The sandbox holding the config's functions, when its text was JavaScript: the caller owns it. */
  script?: ScriptSession;
  /** The text the sandbox evaluated (what a worker evaluates again for a job sent to it). */
  source?: string;
}

export interface ParseOptions {
  /** The chart's size in CSS pixels, what QuickChart's gradient helpers measure against. */
  width: number;
  height: number;
  /**
   * The same text decoded with '+' as a space. A URL query keeps '+' a plus sign
   * (as QuickChart does), but some clients (URLSearchParams, quickchart-js) meant a
   * space by it: text that does not parse is tried once more in this reading.
   */
  textIfPlusIsSpace?: string | undefined;
}

/**
 * Turns a chart config, given as an object or as text, into a plain object. JSON
 * and JavaScript object literals (unquoted keys, single quotes, trailing commas:
 * what QuickChart users paste) are parsed; other JavaScript (functions, `new
 * Date(...)`, `Math.PI * 2`, QuickChart's helpers) is evaluated in a WebAssembly
 * sandbox of its own (script/script-session.ts), never in this process's realm.
 */
export function parseChartConfig(chart: unknown, limits: RenderLimits, options: ParseOptions = { width: 0, height: 0 }): ParsedConfig {
  if (chart === undefined || chart === null || (typeof chart === 'string' && chart.trim() === '')) {
    throw new ChartdError('CONFIG_MISSING', 'chart is required: pass a Chart.js config as `chart` (or `c`)');
  }
  if (typeof chart !== 'string') return { config: requireObject(chart) };
  const bytes = Buffer.byteLength(chart, 'utf8');
  if (bytes > limits.maxConfigBytes) {
    throw new ChartdError('CONFIG_TOO_LARGE', `chart is ${bytes} bytes, over the limit of ${limits.maxConfigBytes}`);
  }
  try {
    return parseText(chart, limits, options);
  } catch (error) {
    const alternative = options.textIfPlusIsSpace;
    const retry = alternative !== undefined && alternative !== chart && error instanceof ChartdError && error.code === 'CONFIG_SYNTAX';
    if (!retry) throw error;
    try {
      return parseText(alternative, limits, options);
    } catch {
      throw error; // the text as sent is what the client should hear about
    }
  }
}

function parseText(text: string, limits: RenderLimits, options: ParseOptions): ParsedConfig {
  const literal = parseLiteral(text);
  if (literal.ok) return { config: requireObject(literal.value) };
  if (!limits.allowScripts) throw literalError(text, literal.error);
  checkNesting(text, limits.maxDepth * SCRIPT_NESTING_FACTOR);
  const script = new ScriptSession(limits);
  try {
    const value = decodeNumbers(script.evaluateConfig(text, options.width, options.height));
    return { config: requireObject(value), script, source: text };
  } catch (error) {
    script[Symbol.dispose]();
    throw error;
  }
}

/** Brackets a script may nest, per level of config depth allowed: room for the functions' own blocks. */
const SCRIPT_NESTING_FACTOR = 4;

/**
 * Refuses text nested deeper than `max` brackets before the sandbox parses it:
 * QuickJS's parser recurses on each, and text like "[[[[..." one megabyte deep
 * would overflow its stack (costing the engine instance) for nothing.
 */
function checkNesting(text: string, max: number): void {
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'" || ch === '`') {
      quote = ch;
    } else if (ch === '(' || ch === '[' || ch === '{') {
      if (++depth > max) throw new ChartdError('CONFIG_TOO_DEEP', `chart nests brackets more than ${max} deep (at character ${i + 1})`);
    } else if (ch === ')' || ch === ']' || ch === '}') {
      depth--;
    }
  }
}

function requireObject(parsed: unknown): Record<string, unknown> {
  if (!isPlainRecord(parsed)) {
    throw new ChartdError('CONFIG_INVALID', `chart must be an object such as {"type":"bar","data":{...}}, got ${describe(parsed)}`);
  }
  return parsed as Record<string, unknown>;
}

/** JSON, else JSON5 (a JavaScript object literal): data only, nothing to run. */
function parseLiteral(text: string): { ok: true; value: unknown } | { ok: false; error: unknown } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    // Not strict JSON: try the JavaScript object literal form.
  }
  try {
    return { ok: true, value: JSON5.parse(text) };
  } catch (error) {
    return { ok: false, error };
  }
}

/** With scripts off: a function gets CONFIG_FUNCTION (where it is), anything else CONFIG_SYNTAX. */
function literalError(text: string, error: unknown): ChartdError {
  const fn = findFunction(text);
  if (fn) {
    return new ChartdError(
      'CONFIG_FUNCTION',
      `chart contains a function at line ${fn.line} column ${fn.column}${fn.property ? ` (property "${fn.property}")` : ''}: ${FUNCTION_HELP}`,
    );
  }
  const reason = error instanceof Error ? error.message.replace(/^JSON5: /, '') : String(error);
  return new ChartdError('CONFIG_SYNTAX', `chart is neither JSON nor a JavaScript object literal: ${reason}${locateSyntaxError(text, error)}`);
}

/** ±Infinity crosses from the sandbox as a marker: back to a number, for validation to refuse it by its path. */
function decodeNumbers(value: unknown): unknown {
  const marker = markerOf(value);
  if (marker?.kind === 'number') return Number(marker.payload);
  if (marker?.kind === 'undefined') return undefined;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = decodeNumbers(value[i]);
    return value;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) record[key] = decodeNumbers(record[key]);
  return record;
}

function locateSyntaxError(text: string, error: unknown): string {
  const e = error as { lineNumber?: number; columnNumber?: number };
  if (typeof e.lineNumber !== 'number' || typeof e.columnNumber !== 'number') return '';
  const line = text.split('\n')[e.lineNumber - 1] ?? '';
  const start = Math.max(0, e.columnNumber - 21);
  return ` (near "${line.slice(start, e.columnNumber + 20).trim()}")`;
}

interface FunctionLocation {
  line: number;
  column: number;
  property: string | undefined;
}

/**
 * Finds a function outside strings and comments: `function (...)`, an arrow, or
 * a method shorthand in property position (`callback(v) { ... }`).
 */
export function findFunction(text: string): FunctionLocation | undefined {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      i = end === -1 ? text.length : end;
      continue;
    }
    if (ch === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end === -1 ? text.length : end + 1;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') {
      quote = ch;
      continue;
    }
    const startsWord = !/[\w$]/.test(text[i - 1] ?? '');
    const isFunctionKeyword = ch === 'f' && startsWord && /^function\b\s*[\w$]*\s*\(/.test(text.slice(i, i + 64));
    const isArrow = ch === '=' && text[i + 1] === '>';
    if (isFunctionKeyword || isArrow) {
      const start = isArrow ? arrowStart(text, i) : i;
      return { ...lineAndColumn(text, start), property: propertyBefore(text, start) };
    }
    if (startsWord && /[\w$]/.test(ch)) {
      const method = /^([\w$]+)\s*\([^()]*\)\s*\{/.exec(text.slice(i, i + 256));
      if (method && /[{,]\s*$/.test(text.slice(Math.max(0, i - 64), i))) {
        return { ...lineAndColumn(text, i), property: method[1] };
      }
    }
  }
  return undefined;
}

function arrowStart(text: string, arrowIndex: number): number {
  // Walk back over `(a, b) ` or `a ` to where the arrow function begins.
  let i = arrowIndex - 1;
  while (i >= 0 && /\s/.test(text[i]!)) i--;
  if (text[i] === ')') {
    let depth = 0;
    for (; i >= 0; i--) {
      if (text[i] === ')') depth++;
      else if (text[i] === '(' && --depth === 0) break;
    }
    return Math.max(0, i);
  }
  while (i > 0 && /[\w$]/.test(text[i - 1]!)) i--;
  return i;
}

function propertyBefore(text: string, index: number): string | undefined {
  const match = /["']?([\w$-]+)["']?\s*:\s*(?:async\s*)?$/.exec(text.slice(Math.max(0, index - 80), index));
  return match?.[1];
}

function lineAndColumn(text: string, index: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < index; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: index - lineStart + 1 };
}


export { FUNCTION_HELP };
