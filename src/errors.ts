/**
 * The one error type of chartd. Every failure a caller can cause or observe has a
 * stable `code` (never changed once released; published in docs/API.md) and the
 * HTTP status it maps to. Messages name the offending field and the bound.
 */

export const ERROR_CATALOG = {
  // Bad input: the request can be fixed by the caller.
  CONFIG_MISSING: { statusCode: 400, title: 'Chart config missing' },
  CONFIG_SYNTAX: { statusCode: 400, title: 'Chart config is not valid JSON or JavaScript object literal' },
  CONFIG_FUNCTION: { statusCode: 400, title: 'Chart config contains a function' },
  CONFIG_INVALID: { statusCode: 400, title: 'Chart config is invalid' },
  CONFIG_TOO_LARGE: { statusCode: 413, title: 'Chart config too large' },
  CONFIG_TOO_DEEP: { statusCode: 400, title: 'Chart config nested too deeply' },
  CONFIG_TOO_MANY_DATASETS: { statusCode: 400, title: 'Too many datasets' },
  CONFIG_TOO_MANY_POINTS: { statusCode: 400, title: 'Too many data points' },
  CONFIG_STRING_TOO_LONG: { statusCode: 400, title: 'String too long' },
  CONFIG_NOT_FINITE: { statusCode: 400, title: 'Number is not finite' },
  CONFIG_TOO_MANY_TICKS: { statusCode: 400, title: 'Too many axis ticks' },
  CONFIG_TOO_MANY_LABELS: { statusCode: 400, title: 'Too many axis labels drawn' },
  CONFIG_TOO_MANY_SLICES: { statusCode: 400, title: 'Too many slices' },
  CONFIG_TOO_MANY_LEGEND_ITEMS: { statusCode: 400, title: 'Too many legend items' },
  CONFIG_TOO_MANY_ANNOTATIONS: { statusCode: 400, title: 'Too many annotations' },
  CONFIG_TOO_MANY_DATALABELS: { statusCode: 400, title: 'Too many data labels' },
  CONFIG_DASH_TOO_FINE: { statusCode: 400, title: 'Dash pattern too fine' },
  CONFIG_TOO_COSTLY: { statusCode: 400, title: 'Chart would take too long to draw' },
  SCRIPT_ERROR: { statusCode: 400, title: 'The config\'s JavaScript failed' },
  SCRIPT_TIMEOUT: { statusCode: 400, title: 'The config\'s JavaScript ran too long' },
  SCRIPT_OUT_OF_MEMORY: { statusCode: 400, title: 'The config\'s JavaScript needed too much memory' },
  SCRIPT_STACK_OVERFLOW: { statusCode: 400, title: 'The config\'s JavaScript recursed too deeply' },
  SCRIPT_TOO_MANY_CALLS: { statusCode: 400, title: 'The config\'s functions were called too often' },
  CHART_TYPE_UNKNOWN: { statusCode: 400, title: 'Unknown chart type' },
  QR_TEXT_MISSING: { statusCode: 400, title: 'QR code text missing' },
  QR_TEXT_TOO_LONG: { statusCode: 400, title: 'Text too long for a QR code' },
  GCHART_INVALID: { statusCode: 400, title: 'Google Image Charts parameter not understood' },
  PARAM_INVALID: { statusCode: 400, title: 'Invalid parameter' },
  FORMAT_UNSUPPORTED: { statusCode: 400, title: 'Unsupported format' },
  VERSION_UNSUPPORTED: { statusCode: 400, title: 'Unsupported Chart.js version' },
  IMAGE_TOO_LARGE: { statusCode: 413, title: 'Image too large' },
  OUTPUT_TOO_LARGE: { statusCode: 413, title: 'Encoded image too large' },
  BODY_TOO_LARGE: { statusCode: 413, title: 'Request body too large' },
  HEADERS_TOO_LARGE: { statusCode: 431, title: 'URL or headers too large' },
  REQUEST_INVALID: { statusCode: 400, title: 'Malformed HTTP request' },
  REQUEST_TIMEOUT: { statusCode: 408, title: 'Request took too long to arrive' },
  EXPECTATION_FAILED: { statusCode: 417, title: 'Expect header not supported' },
  RENDER_FAILED: { statusCode: 400, title: 'Chart.js could not render this config' },
  RENDER_OUT_OF_MEMORY: { statusCode: 400, title: 'Render needs more memory than a worker may use' },
  RATE_LIMITED: { statusCode: 429, title: 'Too many requests' },
  CLIENT_BUDGET_EXCEEDED: { statusCode: 429, title: 'Render time budget exceeded', retryAfterSeconds: 5 },
  NOT_FOUND: { statusCode: 404, title: 'Not found' },
  CHART_NOT_FOUND: { statusCode: 404, title: 'Stored chart not found' },
  UNAUTHORIZED: { statusCode: 401, title: 'Unauthorized' },
  SIGNATURE_REQUIRED: { statusCode: 403, title: 'A signed URL is required' },
  SIGNATURE_INVALID: { statusCode: 403, title: 'Signature does not match the request' },
  SIGNATURE_EXPIRED: { statusCode: 403, title: 'Signature expired' },
  ACCOUNT_UNKNOWN: { statusCode: 403, title: 'Unknown signing account' },
  API_KEY_INVALID: { statusCode: 401, title: 'API key not recognised' },
  // The service protecting itself.
  QUEUE_FULL: { statusCode: 503, title: 'Render queue full', retryAfterSeconds: 1 },
  SHUTTING_DOWN: { statusCode: 503, title: 'Service shutting down', retryAfterSeconds: 5 },
  TOO_MANY_CONNECTIONS: { statusCode: 503, title: 'Too many connections', retryAfterSeconds: 1 },
  RENDER_TIMEOUT: { statusCode: 504, title: 'Render deadline exceeded' },
  WORKER_CRASHED: { statusCode: 500, title: 'Render worker crashed' },
  CAPTURE_BUSY: { statusCode: 409, title: 'Another capture is running' },
  CAPTURE_FAILED: { statusCode: 503, title: 'The capture could not be completed', retryAfterSeconds: 1 },
  STORE_FULL: { statusCode: 507, title: 'The chart store is full' },
  STORE_UNAVAILABLE: { statusCode: 503, title: 'The chart store is unavailable', retryAfterSeconds: 5 },
  ABORTED: { statusCode: 499, title: 'Request aborted by the client' },
  // Our own bugs.
  INTERNAL: { statusCode: 500, title: 'Internal error' },
} as const satisfies Record<string, { statusCode: number; title: string; retryAfterSeconds?: number }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export interface SerializedError {
  code: ErrorCode;
  message: string;
}

/** Marks chartd's errors across copies of the library (two versions in one dependency tree), as undici does. */
const CHARTD_ERROR = Symbol.for('chartd.error');

export class ChartdError extends Error {
  override readonly name = 'ChartdError';
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly [CHARTD_ERROR] = true;

  /** `instanceof ChartdError` holds for a ChartdError made by any copy of chartd. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as { [CHARTD_ERROR]?: unknown })[CHARTD_ERROR] === true;
  }

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.statusCode = ERROR_CATALOG[code].statusCode;
  }

  /** Errors crossing a thread boundary lose their class: send this and rebuild. */
  toJSON(): SerializedError {
    return { code: this.code, message: this.message };
  }

  static fromSerialized(data: SerializedError): ChartdError {
    const code = isErrorCode(data.code) ? data.code : 'INTERNAL';
    return new ChartdError(code, String(data.message));
  }
}

/** The Retry-After an answer with this code carries, when retrying later can succeed. */
export function retryAfterSeconds(code: ErrorCode): number | undefined {
  return (ERROR_CATALOG[code] as { retryAfterSeconds?: number }).retryAfterSeconds;
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CATALOG, value);
}

export function isChartdError(error: unknown): error is ChartdError {
  return error instanceof ChartdError;
}

/** Any thrown value as a ChartdError; anything unexpected becomes INTERNAL. */
export function toChartdError(error: unknown): ChartdError {
  if (error instanceof ChartdError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ChartdError('INTERNAL', message, { cause: error });
}
