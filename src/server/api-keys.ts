import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyRequest } from 'fastify';
import { ChartdError } from '../errors.js';
import { isPlainRecord } from '../values.js';

/**
 * API keys (--api-keys FILE): each a name and the limits of the client that sends
 * it, e.g.
 *
 *   {"keys": [{"name": "reports-team", "key": "…", "rateLimit": 600, "budgetPercent": 80}]}
 *
 * A request carries its key as the `key` query parameter or body field (QuickChart's
 * name), or an `X-Api-Key` or `Authorization: Bearer` header. A known key makes the
 * client its name (`key:<name>`) for the rate limit and the client budget, with the
 * key's own bounds; a key that is not in the file is 401 API_KEY_INVALID, never a
 * silent fall-back to the address. No key at all: the client is its address, with
 * --rate-limit and --client-budget.
 *
 * Keys are held only as their SHA-256 hashes, in a Map: a lookup hashes what the
 * request sent and compares hashes, so neither its time nor any object's prototype
 * depends on the sent text. The key itself is never logged, never part of a render
 * cache key or an ETag, and never reaches a worker or the chart store: it is taken
 * out of the query and the body before either is read (withoutApiKey, stripBodyKey).
 */
export interface ApiKey {
  name: string;
  /** Requests per --rate-limit-window; undefined: --rate-limit; 0: not limited. */
  rateLimit?: number | undefined;
  /** Share of the workers' time while others wait, %; undefined: --client-budget; 0: never refused. */
  budgetPercent?: number | undefined;
}

/** Whom a request is counted as: its address, or its API key's name. */
export interface ClientIdentity {
  /** `ip:<address>` or `key:<name>`: the rate limit's and the budget's key. */
  id: string;
  /** The key's entry; undefined for an anonymous client. */
  apiKey?: ApiKey | undefined;
}

/** Loaded API keys, by the SHA-256 of the key. */
export class ApiKeys {
  readonly #byHash: Map<string, ApiKey>;
  readonly file: string;

  constructor(file: string, byHash: Map<string, ApiKey>) {
    this.file = file;
    this.#byHash = byHash;
  }

  get size(): number {
    return this.#byHash.size;
  }

  /** Every entry (names repeat when a name has several keys). */
  entries(): ApiKey[] {
    return [...this.#byHash.values()];
  }

  /** The entry of `key`, or undefined when it is not one of the file's. */
  find(key: string): ApiKey | undefined {
    if (key.length === 0 || key.length > MAX_KEY_LENGTH) return undefined;
    return this.#byHash.get(hashKey(key));
  }
}

/** A problem with the --api-keys file: the service does not start. */
export class ApiKeysFileError extends TypeError {
  override readonly name = 'ApiKeysFileError';
}

const MAX_KEY_LENGTH = 512;
const MIN_KEY_LENGTH = 16;
const NAME = /^[A-Za-z0-9][\w.@-]{0,63}$/;
const ENTRY_FIELDS = new Set(['name', 'key', 'rateLimit', 'budgetPercent']);

function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('base64');
}

/** Reads and checks the --api-keys file; throws an ApiKeysFileError naming the file and the problem. */
export function loadApiKeys(file: string): ApiKeys {
  const fail = (problem: string): never => {
    throw new ApiKeysFileError(`--api-keys ${file}: ${problem}`);
  };
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    fail(`cannot be read (${(error as { code?: string }).code ?? (error as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    fail(`is not valid JSON (${(error as Error).message})`);
  }
  if (!isPlainRecord(parsed) || !Array.isArray(parsed.keys)) {
    fail('must be a JSON object {"keys": [{"name": "...", "key": "...", "rateLimit": 600, "budgetPercent": 50}, ...]}');
  }
  const byHash = new Map<string, ApiKey>();
  const limitsByName = new Map<string, string>();
  const entries = (parsed as { keys: unknown[] }).keys;
  entries.forEach((entry, index) => {
    const where = `keys[${index}]`;
    if (!isPlainRecord(entry)) fail(`${where} must be an object with "name" and "key"`);
    const fields = entry as Record<string, unknown>;
    for (const field of Object.keys(fields)) {
      if (!ENTRY_FIELDS.has(field)) fail(`${where} has an unknown field "${field.slice(0, 32)}" (known: ${[...ENTRY_FIELDS].join(', ')})`);
    }
    const { name, key, rateLimit, budgetPercent } = fields;
    if (typeof name !== 'string' || !NAME.test(name)) fail(`${where}.name must be 1-64 letters, digits, and . _ @ - (got ${JSON.stringify(name)?.slice(0, 80)})`);
    const label = `${where} ("${String(name)}")`;
    if (typeof key !== 'string' || key.length < MIN_KEY_LENGTH || key.length > MAX_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(key)) {
      fail(`${label}.key must be a string of ${MIN_KEY_LENGTH}-${MAX_KEY_LENGTH} printable ASCII characters without spaces (e.g. openssl rand -base64 32)`);
    }
    if (rateLimit !== undefined && !(Number.isInteger(rateLimit) && (rateLimit as number) >= 0)) fail(`${label}.rateLimit must be an integer >= 0 (0: not limited)`);
    if (budgetPercent !== undefined && !(Number.isInteger(budgetPercent) && (budgetPercent as number) >= 0 && (budgetPercent as number) <= 100)) {
      fail(`${label}.budgetPercent must be an integer from 0 to 100 (0: never refused)`);
    }
    const hash = hashKey(key as string);
    if (byHash.has(hash)) fail(`${label}.key is the key of an earlier entry: each key must be given once`);
    // Several keys may share a name (rotating a key): they are one client, so their limits must agree.
    const limits = JSON.stringify([rateLimit ?? null, budgetPercent ?? null]);
    const earlier = limitsByName.get(name as string);
    if (earlier !== undefined && earlier !== limits) fail(`${label} has other limits than an earlier key of the same name: keys of one name are one client`);
    limitsByName.set(name as string, limits);
    byHash.set(hash, { name: name as string, rateLimit: rateLimit as number | undefined, budgetPercent: budgetPercent as number | undefined });
  });
  return new ApiKeys(file, byHash);
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the API key hooks (app.ts); read through clientOf(). */
    chartdClient: ClientIdentity | null;
  }
}

/** Whom `request` counts as: its API key's name once a key was recognised, else its address. */
export function clientOf(request: FastifyRequest): ClientIdentity {
  return request.chartdClient ?? { id: `ip:${request.ip}` };
}

/**
 * The key a request sends in its headers or query (X-Api-Key, then Authorization:
 * Bearer, then `key`), or undefined. Two places that disagree are refused: which
 * of them counts must never depend on an order the client does not know.
 */
export function requestKey(request: FastifyRequest): string | undefined {
  const found: string[] = [];
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header !== '') found.push(header.trim());
  const authorization = request.headers.authorization;
  if (typeof authorization === 'string') {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
    if (bearer) found.push(bearer);
  }
  const query = request.query as Record<string, string> | undefined;
  const fromQuery = query && Object.hasOwn(query, 'key') ? query.key : undefined;
  if (typeof fromQuery === 'string' && fromQuery !== '') found.push(fromQuery);
  return agreeing(found);
}

/** The one key of `found`, undefined for none; API_KEY_INVALID when they differ. */
export function agreeing(found: readonly string[]): string | undefined {
  const [first] = found;
  if (found.some((key) => key !== first)) throw new ChartdError('API_KEY_INVALID', 'the request carries two different API keys (header, query or body): send one');
  return first;
}

/** The identity of a client that sent `key`; API_KEY_INVALID for a key not in the file (or any key when no file is loaded). */
export function identify(keys: ApiKeys, key: string): ClientIdentity {
  const apiKey = keys.find(key);
  if (!apiKey) throw new ChartdError('API_KEY_INVALID', 'the API key is not one of this service\'s (--api-keys): send a valid key, or none');
  return { id: `key:${apiKey.name}`, apiKey };
}

/** Query parameters as the renderers read them: without `key`, which is never a chart parameter. */
export function withoutApiKey<T extends Record<string, string> | undefined>(params: T): T {
  if (!params || !Object.hasOwn(params, 'key')) return params;
  const copy: Record<string, string> = Object.create(null);
  for (const [name, value] of Object.entries(params)) if (name !== 'key') copy[name] = value;
  return copy as T;
}

/** The body without its top-level `key`, and that key's value (undefined when it had none). */
export interface StrippedBody {
  body: Buffer;
  key: string | undefined;
}

const JSON_KEY = Buffer.from('"key"');
const FORM_KEY = Buffer.from('key=');

/**
 * A POST body's top-level `key` field taken out: a JSON object's member "key" (the
 * rest of the text kept byte for byte), or a form's `key` fields. Only bodies that
 * contain the bytes `"key"` or `key=` are looked at, with one linear scan (as the
 * render cache's hash of the body): nothing is parsed here beyond the top-level
 * member names. A body the scan cannot read is left as it is, for the worker to refuse.
 */
export function stripBodyKey(kind: 'json' | 'form', body: Buffer): StrippedBody {
  if (kind === 'form') {
    if (!body.includes(FORM_KEY)) return { body, key: undefined };
    const fields = new URLSearchParams(body.toString('utf8'));
    if (!fields.has('key')) return { body, key: undefined };
    const key = fields.getAll('key');
    fields.delete('key');
    return { body: Buffer.from(fields.toString(), 'utf8'), key: agreeing(key) ?? '' };
  }
  if (!body.includes(JSON_KEY)) return { body, key: undefined };
  const text = body.toString('utf8');
  const members = topLevelMembers(text);
  if (!members) return { body, key: undefined };
  const keys = members.filter((member) => member.name === 'key');
  if (keys.length === 0) return { body, key: undefined };
  const values = keys.map((member) => {
    const value = text.slice(member.valueStart, member.end);
    if (!value.startsWith('"') || value.length > MAX_KEY_LENGTH * 6 + 2) {
      throw new ChartdError('API_KEY_INVALID', 'the body\'s "key" must be a string: the API key');
    }
    return JSON.parse(value) as string;
  });
  const kept = members.filter((member) => member.name !== 'key').map((member) => text.slice(member.start, member.end));
  return { body: Buffer.from(`{${kept.join(',')}}`, 'utf8'), key: agreeing(values) ?? '' };
}

interface Member {
  name: string;
  /** Offsets in the text: the member's name starts at `start`, its value spans [valueStart, end). */
  start: number;
  valueStart: number;
  end: number;
}

/** The top-level members of a JSON object text, or undefined when it is not one. */
function topLevelMembers(text: string): Member[] | undefined {
  const members: Member[] = [];
  let i = skipSpace(text, 0);
  if (text[i] !== '{') return undefined;
  i = skipSpace(text, i + 1);
  if (text[i] === '}') return members;
  for (;;) {
    if (text[i] !== '"') return undefined;
    const start = i;
    const nameEnd = endOfString(text, i);
    if (nameEnd < 0) return undefined;
    let name: string;
    try {
      name = JSON.parse(text.slice(start, nameEnd)) as string;
    } catch {
      return undefined;
    }
    i = skipSpace(text, nameEnd);
    if (text[i] !== ':') return undefined;
    const valueStart = skipSpace(text, i + 1);
    const end = endOfValue(text, valueStart);
    if (end < 0) return undefined;
    members.push({ name, start, valueStart, end });
    i = skipSpace(text, end);
    if (text[i] === '}') return members;
    if (text[i] !== ',') return undefined;
    i = skipSpace(text, i + 1);
  }
}

function skipSpace(text: string, from: number): number {
  let i = from;
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  return i;
}

/** The offset after the string that starts (with its quote) at `from`, or -1. */
function endOfString(text: string, from: number): number {
  for (let i = from + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i + 1;
  }
  return -1;
}

/** The offset after the JSON value that starts at `from`, or -1. */
function endOfValue(text: string, from: number): number {
  const first = text[from];
  if (first === '"') return endOfString(text, from);
  if (first === '{' || first === '[') {
    let depth = 0;
    for (let i = from; i < text.length; i++) {
      const c = text[i];
      if (c === '"') {
        i = endOfString(text, i) - 1;
        if (i < 0) return -1;
      } else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    return -1;
  }
  let i = from;
  while (i < text.length && !/[\s,}\]]/.test(text[i] ?? '')) i++;
  return i === from ? -1 : i;
}

/** Bodies with their `key` taken out, by request (set by the API key hook once the body is read). */
const strippedBodies = new WeakMap<FastifyRequest, Buffer>();

/** Remembers `request`'s body without its key, for bodyWithoutKey. */
export function setBodyWithoutKey(request: FastifyRequest, body: Buffer): void {
  strippedBodies.set(request, body);
}

/**
 * A route's raw request with the body's `key` taken out (what the render cache key, the
 * worker and the chart store get), or `raw` itself when the body had no key. Taken out
 * here, by the handler, rather than in the hook: a signed body is verified as it was sent.
 */
export function bodyWithoutKey<T extends { kind: string }>(request: FastifyRequest, raw: T): T {
  const stripped = strippedBodies.get(request);
  if (!stripped || (raw.kind !== 'json' && raw.kind !== 'form')) return raw;
  return { ...raw, body: stripped };
}
