import { ChartdError } from '../errors.js';
import type { RenderRequest } from './job.js';
import { toRenderRequest } from './quickchart-params.js';
import { isPlainRecord } from '../values.js';

/**
 * A chart request as it arrived over HTTP, before any parsing. The main process
 * forwards this to a render worker, which does all the parsing: a large or
 * hostile body costs a worker's time, never the event loop that answers health
 * checks (docs/ARCHITECTURE.md, "Parse in the workers").
 */
export type RawChartRequest =
  /** `paramsIfPlusIsSpace`: the same query read with '+' as a space, when it has a '+'. */
  | { kind: 'query'; params: Record<string, string>; paramsIfPlusIsSpace?: Record<string, string> | undefined }
  | { kind: 'json'; body: Uint8Array }
  | { kind: 'form'; body: Uint8Array }
  /** GET /qr: QuickChart's QR code parameters. */
  | { kind: 'qr'; params: Record<string, string> }
  /** GET /chart?cht=... and GET /gchart: Google Image Charts parameters ('+' read as a space). */
  | { kind: 'gchart'; params: Record<string, string> }
  /**
   * GET /chart/render/:id: a stored POST /chart body (`chart`) and the query, whose
   * image parameters and template overrides apply to it (template-overrides.ts).
   */
  | { kind: 'stored'; chart: Extract<RawChartRequest, { kind: 'json' | 'form' }>; params: Record<string, string> };

/** Decodes a raw chart request into the loose RenderRequest that createRenderJob resolves. */
export function readChartRequest(raw: Extract<RawChartRequest, { kind: 'query' | 'json' | 'form' }>): RenderRequest {
  switch (raw.kind) {
    case 'query':
      return toRenderRequest(raw.params, raw.paramsIfPlusIsSpace);
    case 'json':
      return toRenderRequest(parseJsonBody(raw.body));
    case 'form':
      return toRenderRequest(parseFormBody(raw.body));
  }
}

/** Size of what the client sent, for the resources page (never the content). */
export function rawRequestBytes(raw: RawChartRequest): number {
  if (raw.kind === 'json' || raw.kind === 'form') return raw.body.byteLength;
  let bytes = raw.kind === 'stored' ? raw.chart.body.byteLength : 0;
  for (const [key, value] of Object.entries(raw.params)) bytes += key.length + value.length;
  return bytes;
}

function bodyText(body: Uint8Array): string {
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
}

function parseJsonBody(body: Uint8Array): Record<string, unknown> {
  const text = bodyText(body);
  if (text.trim() === '') throw new ChartdError('CONFIG_MISSING', 'the JSON body is empty: send {"chart": {...}}');
  let parsed: unknown;
  try {
    // JSON.parse keeps a "__proto__" key as an own property: data, never a prototype.
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ChartdError('PARAM_INVALID', `the request body is not valid JSON: ${(error as Error).message}`);
  }
  if (!isPlainRecord(parsed)) {
    throw new ChartdError('CONFIG_MISSING', 'send the chart as a JSON object body {"chart": {...}}');
  }
  return parsed as Record<string, unknown>;
}

/** HTML forms encode a space as '+' (unlike chart URLs); the first of a repeated field wins. */
function parseFormBody(body: Uint8Array): Record<string, string> {
  const fields: Record<string, string> = Object.create(null);
  // eslint-disable-next-line no-restricted-syntax -- a null-prototype object, written after an own-property check
  for (const [key, value] of new URLSearchParams(bodyText(body))) if (!Object.hasOwn(fields, key)) fields[key] = value;
  return fields;
}
