import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ChartdError, toChartdError } from '../errors.js';
import type { ServiceOptions } from '../options.js';
import { SIGNATURE_PARAMS, SigningKeyring, matchesAnyKey, quickChartSignatureMessage, signatureBaseString } from '../signing.js';
import { queryIfPlusIsSpace } from './query-string.js';

/**
 * Signed URLs on the public routes (docs/API.md, "Signed URLs"). The image
 * routes read their query through signedQuery() and POST bodies through
 * checkSignedBody(): a request that carries a signature (`sig` or `signature`)
 * is verified, whether or not --require-signature is on, and its signature
 * parameters never reach a worker, the render cache key or the ETag. With
 * --require-signature, a request without one is refused (403 SIGNATURE_REQUIRED).
 * Without --signing-keys there are no accounts: signature parameters are dropped
 * unread, as QuickChart's open-source server ignores them.
 */

export interface SignatureGate {
  keyring: SigningKeyring | undefined;
  required: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    chartdSignatureGate: SignatureGate;
  }
}

/** The routes a signature gates; health, metrics and admin routes never are. */
const GATED_ROUTES = new Set(['/chart', '/qr', '/gchart', '/chart/create', '/chart/render/*']);
const SIGNATURE_NAMES = new Set(SIGNATURE_PARAMS);
const CHARTD_SIGNATURE = /^[A-Za-z0-9_-]{43}$/;
const QUICKCHART_SIG = /^[0-9A-Fa-f]{64}$/;
const EXP = /^\d{1,11}$/;
const MAX_ACCOUNT_ID = 128;

export function createSignatureGate(options: Pick<ServiceOptions, 'signingKeys' | 'requireSignature'>): SignatureGate {
  const keyring = options.signingKeys === '' ? undefined : SigningKeyring.load(options.signingKeys);
  if (options.requireSignature && !keyring) throw new TypeError('--require-signature needs --signing-keys (the accounts whose signatures are accepted)');
  return { keyring, required: options.requireSignature };
}

/** Decorates the app with the gate and, in require mode, refuses unsigned requests to gated routes before admission. */
export function registerSignatureGate(app: FastifyInstance, gate: SignatureGate): void {
  app.decorate('chartdSignatureGate', gate);
  if (!gate.required) return;
  app.addHook('onRequest', async (request) => {
    if (!GATED_ROUTES.has(request.routeOptions.url ?? '')) return;
    const claim = new Map(Object.entries(request.query as Record<string, string>));
    if (!claim.has('signature') && !claim.has('sig')) throw signatureRequired();
  });
}

/** A request's query as a route reads it, the signature parameters left out. */
export interface SignedQuery {
  params: Record<string, string>;
  /** The '+'-is-space reading, when the query has a '+' and the request is not signed (a signed one is read as it verified). */
  paramsIfPlusIsSpace: Record<string, string> | undefined;
  /** The account whose signature verified, if any. */
  accountId?: string | undefined;
}

const verified = new WeakMap<FastifyRequest, SignedQuery | ChartdError>();

/** The query of a GET route, verified once per request (the admission hook and the handler share the answer). Throws a coded 400 or 403. */
export function signedQuery(request: FastifyRequest): SignedQuery {
  let result = verified.get(request);
  if (result === undefined) {
    try {
      result = verifyRequest(request, undefined);
    } catch (error) {
      result = toChartdError(error);
    }
    verified.set(request, result);
  }
  if (result instanceof ChartdError) throw result;
  return result;
}

/** A POST route's body checked against the query's signature (which signs the body's digest); throws a coded 400 or 403. */
export function checkSignedBody<T>(request: FastifyRequest, raw: T | undefined): T | undefined {
  const body = raw && typeof raw === 'object' && Object.hasOwn(raw, 'body') ? (raw as unknown as { body: unknown }).body : undefined;
  verifyRequest(request, body instanceof Uint8Array ? body : new Uint8Array(0));
  return raw;
}

function verifyRequest(request: FastifyRequest, body: Uint8Array | undefined): SignedQuery {
  const gate = request.server.chartdSignatureGate;
  const literal = request.query as Record<string, string>;
  const plus = queryIfPlusIsSpace(request.url);
  const claim = new Map(Object.entries(literal));
  const signature = claim.get('signature');
  const sig = claim.get('sig');
  if (!gate?.keyring || (signature === undefined && sig === undefined)) {
    if (gate?.required) throw signatureRequired();
    return { params: withoutSignature(literal), paramsIfPlusIsSpace: plus && withoutSignature(plus) };
  }
  // Sizes first: a malformed signature costs no HMAC.
  if (signature !== undefined && !CHARTD_SIGNATURE.test(signature)) throw new ChartdError('PARAM_INVALID', 'signature must be 43 characters of base64url (HMAC-SHA256)');
  if (signature === undefined && sig !== undefined && !QUICKCHART_SIG.test(sig)) throw new ChartdError('PARAM_INVALID', 'sig must be 64 hexadecimal characters (HMAC-SHA256)');
  const accountId = claim.get('accountId');
  if (accountId === undefined || accountId === '' || accountId.length > MAX_ACCOUNT_ID) {
    throw new ChartdError('PARAM_INVALID', `a signed request names its account: accountId, 1 to ${MAX_ACCOUNT_ID} characters`);
  }
  const exp = claim.get('exp');
  if (signature !== undefined && (exp === undefined || !EXP.test(exp))) throw new ChartdError('PARAM_INVALID', 'exp (unix seconds, at most 11 digits) is required with signature');
  const keys = gate.keyring.keysOf(accountId);
  if (!keys) throw new ChartdError('ACCOUNT_UNKNOWN', 'no signing account has this accountId');
  const path = request.url.split('?', 1)[0] ?? '';
  const readings = plus ? [literal, plus] : [literal];
  let matched: Record<string, string> | undefined;
  if (signature !== undefined) {
    const given = Buffer.from(signature, 'base64url');
    matched = readings.find((reading) => matchesAnyKey(keys, signatureBaseString(path, Object.entries(reading), body), given));
    if (!matched) throw new ChartdError('SIGNATURE_INVALID', 'signature does not match this request (path, parameters, body) under any key of the account');
    if (Number(exp) * 1000 < Date.now()) throw new ChartdError('SIGNATURE_EXPIRED', `the signature expired at ${new Date(Number(exp) * 1000).toISOString()} (exp)`);
  } else {
    const given = Buffer.from(sig ?? '', 'hex');
    if (body !== undefined) throw new ChartdError('SIGNATURE_INVALID', 'sig (QuickChart\'s signature) signs GET URLs only: sign a POST with signature');
    matched = readings.find((reading) => {
      const message = quickChartSignatureMessage(path, new Map(Object.entries(reading)));
      return message !== undefined && matchesAnyKey(keys, message, given);
    });
    if (!matched) throw new ChartdError('SIGNATURE_INVALID', 'sig does not match the chart config (c) or QR text under any key of the account');
  }
  // A signed request is read exactly as it verified: no second reading of '+'.
  return { params: withoutSignature(matched), paramsIfPlusIsSpace: undefined, accountId };
}

function signatureRequired(): ChartdError {
  return new ChartdError('SIGNATURE_REQUIRED', 'this chartd serves signed requests only: add accountId, exp and signature (or QuickChart\'s sig and accountId); see docs/API.md, "Signed URLs"');
}

/** The parameters without sig, accountId, exp and signature, in an object without a prototype, as parseQueryString makes them. */
function withoutSignature(reading: Record<string, string>): Record<string, string> {
  const result: Record<string, string> = Object.create(null);
  for (const [name, value] of Object.entries(reading)) if (!SIGNATURE_NAMES.has(name)) result[name] = value;
  return result;
}
