import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { isPlainRecord } from './values.js';

/**
 * Signed chart URLs (docs/API.md, "Signed URLs"). Two kinds:
 *
 * - QuickChart's: `sig` = hex HMAC-SHA256, keyed with the account's key, of the
 *   chart config string (`c`) as decoded from the query, or of a QR code's `text`;
 *   with `accountId`. It covers nothing else (w, h, f can be changed) and never expires.
 * - chartd's: `signature` = base64url HMAC-SHA256 over the canonical form of the
 *   whole request (path, every query parameter but `signature`, a POST body's
 *   digest), with `accountId` and `exp` (unix seconds) among the signed parameters.
 *
 * Nothing here looks request input up in a plain object: accounts live in a Map.
 */

/** The parameters that sign a request: never read by the renderers, never part of a cache key. */
export const SIGNATURE_PARAMS: readonly string[] = Object.freeze(['sig', 'accountId', 'exp', 'signature']);

/** First line of the string to sign: the version of the canonical form. */
export const SIGNATURE_VERSION = 'chartd-v1';

/** How long `chartd sign` and signChartUrl make a URL valid by default, seconds. */
export const DEFAULT_SIGNED_URL_SECONDS = 3600;

const MAX_KEYS_FILE_BYTES = 1024 * 1024;
const ACCOUNT_ID = /^[A-Za-z0-9._@-]{1,128}$/;
const MIN_KEY_LENGTH = 16;
const MAX_KEY_LENGTH = 1024;

/** Accounts and their keys: the first key signs, any of them verifies (rotation). */
export class SigningKeyring {
  readonly #accounts: Map<string, readonly string[]>;

  constructor(accounts: Iterable<{ id: string; keys: readonly string[] }>) {
    this.#accounts = new Map();
    for (const account of accounts) this.#accounts.set(account.id, Object.freeze([...account.keys]));
  }

  /** Parses `{ "accounts": [{ "id": "acme", "keys": ["…"] }] }`; throws a TypeError naming `source` and what is wrong. */
  static parse(text: string, source: string): SigningKeyring {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new TypeError(`${source}: not JSON (${(error as Error).message})`);
    }
    const accounts = isPlainRecord(data) && Object.hasOwn(data, 'accounts') ? data.accounts : undefined;
    if (!Array.isArray(accounts) || accounts.length === 0) {
      throw new TypeError(`${source}: expected {"accounts": [{"id": "acme", "keys": ["<secret>"]}]} with at least one account`);
    }
    const seen = new Set<string>();
    const parsed = accounts.map((account: unknown, index) => {
      const where = `${source}: accounts[${index}]`;
      if (!isPlainRecord(account)) throw new TypeError(`${where} must be an object {"id": "...", "keys": ["..."]}`);
      const id = Object.hasOwn(account, 'id') ? (account as { id: unknown }).id : undefined;
      const keys = Object.hasOwn(account, 'keys') ? (account as { keys: unknown }).keys : undefined;
      if (typeof id !== 'string' || !ACCOUNT_ID.test(id)) throw new TypeError(`${where}.id must be 1 to 128 of A-Z a-z 0-9 . _ @ -`);
      if (seen.has(id)) throw new TypeError(`${where}.id "${id}" appears twice`);
      seen.add(id);
      if (!Array.isArray(keys) || keys.length === 0) throw new TypeError(`${where}.keys must be a non-empty array of strings (the first signs, any verifies)`);
      keys.forEach((key: unknown, keyIndex) => {
        if (typeof key !== 'string' || key.length < MIN_KEY_LENGTH || key.length > MAX_KEY_LENGTH) {
          throw new TypeError(`${where}.keys[${keyIndex}] must be a string of ${MIN_KEY_LENGTH} to ${MAX_KEY_LENGTH} characters`);
        }
      });
      return { id, keys: keys as string[] };
    });
    return new SigningKeyring(parsed);
  }

  /** Reads and parses a keys file; throws a TypeError naming the option and the file. */
  static load(path: string, source = '--signing-keys'): SigningKeyring {
    const where = `${source} ${path}`;
    let text: string;
    try {
      if (statSync(path).size > MAX_KEYS_FILE_BYTES) throw new TypeError(`larger than ${MAX_KEYS_FILE_BYTES} bytes`);
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new TypeError(`${where}: cannot be read (${(error as Error).message})`);
    }
    return SigningKeyring.parse(text, where);
  }

  /** The keys of an account, or undefined: a Map lookup, so `__proto__` is just an unknown account. */
  keysOf(accountId: string): readonly string[] | undefined {
    return this.#accounts.get(accountId);
  }

  get size(): number {
    return this.#accounts.size;
  }
}

/**
 * RFC 3986 percent-encoding of a string's UTF-8 bytes: A-Z a-z 0-9 - . _ ~ stay,
 * every other byte is %XX with upper-case hex (a space is %20, '+' is %2B).
 */
export function canonicalEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const unreserved =
      (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) || byte === 0x2d || byte === 0x2e || byte === 0x5f || byte === 0x7e;
    out += unreserved ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The parameters, `signature` left out, each name=value canonically encoded, sorted by encoded name (byte order), joined with '&'. */
export function canonicalQuery(params: Iterable<readonly [string, string]>): string {
  const pairs: Array<[string, string]> = [];
  for (const [name, value] of params) {
    if (name === 'signature') continue;
    pairs.push([canonicalEncode(name), canonicalEncode(value)]);
  }
  pairs.sort(([a, aValue], [b, bValue]) => (a < b ? -1 : a > b ? 1 : aValue < bValue ? -1 : aValue > bValue ? 1 : 0));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

/** base64url (no padding) of a POST body's SHA-256; '' for a request without a body. */
export function bodyDigest(body: Uint8Array | undefined): string {
  return body === undefined ? '' : createHash('sha256').update(body).digest('base64url');
}

/**
 * The string a chartd signature is the HMAC-SHA256 of:
 * `chartd-v1` LF path LF canonical query LF body digest.
 */
export function signatureBaseString(path: string, params: Iterable<readonly [string, string]>, body?: Uint8Array): string {
  return `${SIGNATURE_VERSION}\n${path}\n${canonicalQuery(params)}\n${bodyDigest(body)}`;
}

/** base64url (43 characters) HMAC-SHA256 of the base string, keyed with the key's UTF-8 bytes. */
export function chartdSignature(key: string, baseString: string): string {
  return createHmac('sha256', key).update(baseString).digest('base64url');
}

/** QuickChart's `sig`: lower-case hex HMAC-SHA256 of the config string (or QR text), as quickchart-js's getSignedUrl computes it. */
export function quickChartSignature(key: string, value: string): string {
  return createHmac('sha256', key).update(value).digest('hex');
}

/** Whether `given` (already decoded to bytes) is the MAC of `message` under any of `keys`: constant time per key. */
export function matchesAnyKey(keys: readonly string[], message: string, given: Buffer): boolean {
  let matched = false;
  for (const key of keys) {
    const expected = createHmac('sha256', key).update(message).digest();
    // Both are 32 bytes (the callers check the given length); no early exit across keys.
    if (expected.length === given.length && timingSafeEqual(expected, given)) matched = true;
  }
  return matched;
}

export interface SignChartUrlOptions {
  accountId: string;
  /** The account's signing key (the first of its keys in the keys file). */
  key: string;
  /** Parameters to add to the URL's own query (a chart config as `c`, `w`, `h`, `f`...). */
  params?: Record<string, string | number | boolean> | Iterable<readonly [string, string]>;
  /** Unix seconds after which the URL is refused (403 SIGNATURE_EXPIRED); default: now + expiresInSeconds. */
  expiresAt?: number | Date;
  /** Default DEFAULT_SIGNED_URL_SECONDS (one hour). */
  expiresInSeconds?: number;
  /** For a POST (POST /chart, POST /chart/create): the exact body bytes that will be sent. */
  body?: Uint8Array | string;
  /** The clock, for tests: milliseconds since the epoch. */
  now?: number;
}

/**
 * A URL signed with chartd's signature: `url`'s own query and `params`, with
 * accountId and exp, canonically encoded in signed order, then `&signature=…`.
 * The path signed is `url`'s path as chartd will receive it.
 */
export function signChartUrl(url: string | URL, options: SignChartUrlOptions): string {
  const target = new URL(String(url));
  if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new TypeError(`signChartUrl: ${target.protocol} is not http: or https:`);
  if (!ACCOUNT_ID.test(options.accountId)) throw new TypeError('signChartUrl: accountId must be 1 to 128 of A-Z a-z 0-9 . _ @ -');
  if (typeof options.key !== 'string' || options.key.length === 0) throw new TypeError('signChartUrl: key must be a non-empty string');
  const params = new Map<string, string>();
  for (const [name, value] of target.searchParams) if (!params.has(name)) params.set(name, value);
  const extra = options.params ?? {};
  const entries: Iterable<readonly [string, unknown]> = Symbol.iterator in extra ? (extra as Iterable<readonly [string, string]>) : Object.entries(extra);
  for (const [name, value] of entries) params.set(name, String(value));
  for (const name of ['sig', 'signature']) params.delete(name);
  const now = options.now ?? Date.now();
  const exp =
    options.expiresAt instanceof Date
      ? Math.floor(options.expiresAt.getTime() / 1000)
      : options.expiresAt ?? Math.floor(now / 1000) + (options.expiresInSeconds ?? DEFAULT_SIGNED_URL_SECONDS);
  if (!Number.isInteger(exp) || exp < 0) throw new TypeError('signChartUrl: expiresAt must be a whole number of unix seconds');
  params.set('accountId', options.accountId);
  params.set('exp', String(exp));
  const body = typeof options.body === 'string' ? Buffer.from(options.body, 'utf8') : options.body;
  const query = canonicalQuery(params);
  const signature = chartdSignature(options.key, signatureBaseString(target.pathname, params, body));
  target.hash = '';
  return `${target.origin}${target.pathname}?${query}&signature=${signature}`;
}

/**
 * What QuickChart's `sig` signs on a route: the chart config string (`c`, or
 * `chart`) of GET /chart, the `text` of GET /qr, as decoded from the query;
 * undefined elsewhere (Google chart URLs and stored charts have no such value).
 */
export function quickChartSignatureMessage(path: string, params: ReadonlyMap<string, string>): string | undefined {
  const names = path === '/chart' ? ['c', 'chart'] : path === '/qr' ? ['text'] : [];
  for (const name of names) {
    const value = params.get(name);
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}
