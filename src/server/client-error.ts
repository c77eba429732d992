import type { Socket } from 'node:net';
import { ChartdError } from '../errors.js';
import { writeRawError } from './raw-error.js';

/**
 * Answers requests Node's HTTP parser refuses before any route sees them, in
 * chartd's error shape: a URL over 64 KiB (431), and a URL with raw non-ASCII
 * bytes or other invalid characters (400; browsers percent-encode, curl -g does not).
 */
export function handleClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const chartdError =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new ChartdError('HEADERS_TOO_LARGE', 'the URL and headers are over 64 KiB: POST the chart as a JSON body instead')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new ChartdError('REQUEST_TIMEOUT', 'the request took too long to arrive')
        : new ChartdError(
            'REQUEST_INVALID',
            'the request is not valid HTTP; a URL must be percent-encoded (non-ASCII characters included): use encodeURIComponent, or curl -G --data-urlencode "c=..."',
          );
  writeRawError(socket, chartdError, error);
}
