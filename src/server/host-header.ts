import type { IncomingMessage } from 'node:http';
import { ChartdError } from '../errors.js';

/**
 * An HTTP/1.1 request without Host (HTTP/1.0 needs none). Node's own check
 * (requireHostHeader) answers a bare 400 with no body; chartd's listeners turn it
 * off and refuse the request themselves, with a code.
 */
export function missingHost(raw: IncomingMessage): ChartdError | undefined {
  if (raw.headers.host !== undefined || (raw.httpVersionMajor === 1 && raw.httpVersionMinor === 0)) return undefined;
  return new ChartdError('REQUEST_INVALID', 'HTTP/1.1 needs a Host header');
}
