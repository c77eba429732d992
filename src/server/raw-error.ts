import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { retryAfterSeconds, type ChartdError } from '../errors.js';
import { toErrorBody } from './error-reply.js';

/**
 * Writes a chartd error as a whole HTTP/1.1 response straight to a socket and
 * closes it: for answers given before (or instead of) Node's HTTP parser, such as
 * a refused connection or a request the parser rejected. Never throws.
 */
export function writeRawError(socket: Socket, error: ChartdError, cause?: Error): void {
  try {
    if (socket.writable) {
      const body = JSON.stringify(toErrorBody(error));
      const retryAfter = retryAfterSeconds(error.code);
      socket.write(
        `HTTP/1.1 ${error.statusCode} ${STATUS_CODES[error.statusCode] ?? 'Error'}\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `${retryAfter === undefined ? '' : `Retry-After: ${retryAfter}\r\n`}Connection: close\r\n\r\n${body}`,
      );
    }
  } catch {
    // the socket is going anyway
  }
  // end() lets the answer out; destroy soon after in case the peer never reads.
  socket.end();
  setTimeout(() => socket.destroy(cause), 1_000).unref();
}
