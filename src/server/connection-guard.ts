import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { ChartdError } from '../errors.js';
import { writeRawError } from './raw-error.js';

export interface ConnectionLimits {
  /** Open connections on the listener. */
  maxConnections: number;
  /** Open connections from one address; 0 = no cap. */
  maxConnectionsPerClient: number;
}

export interface ConnectionStats {
  open: number;
  /** Connections refused since start, by reason. */
  refused: { total: number; per_client: number };
  /** Addresses with connections open now. */
  clients: number;
}

/**
 * Caps connections, in all and per client address, so that idle or slow sockets
 * can neither take every file descriptor (at the limit even a read of /proc fails
 * with EMFILE) nor let one client crowd out the rest. A connection over a cap is
 * answered 503 TOO_MANY_CONNECTIONS (with Retry-After) and closed before a byte
 * of it is parsed. Node's own `maxConnections` is set a little higher, as a
 * backstop that drops without an answer.
 */
export function guardConnections(server: Server, limits: ConnectionLimits): ConnectionStats {
  const stats: ConnectionStats = { open: 0, refused: { total: 0, per_client: 0 }, clients: 0 };
  statsByServer.set(server, stats);
  const perClient = new Map<string, number>();
  // Room for the refusals themselves (each holds its socket for up to a second); past it Node drops at once.
  server.maxConnections = limits.maxConnections + Math.max(16, Math.floor(limits.maxConnections / 8));
  // First in line, before Node's HTTP parser takes the socket.
  server.prependListener('connection', (socket: Socket) => {
    try {
      const address = socket.remoteAddress ?? 'unknown';
      const fromClient = perClient.get(address) ?? 0;
      if (stats.open >= limits.maxConnections) {
        stats.refused.total++;
        refuse(socket, `chartd has ${stats.open} connections open, its limit (--max-connections)`);
        return;
      }
      if (limits.maxConnectionsPerClient > 0 && fromClient >= limits.maxConnectionsPerClient) {
        stats.refused.per_client++;
        refuse(socket, `your address has ${fromClient} connections open, the limit per client (--max-connections-per-client)`);
        return;
      }
      stats.open++;
      perClient.set(address, fromClient + 1);
      stats.clients = perClient.size;
      socket.once('close', () => {
        stats.open--;
        const left = (perClient.get(address) ?? 1) - 1;
        if (left > 0) perClient.set(address, left);
        else perClient.delete(address);
        stats.clients = perClient.size;
      });
    } catch {
      socket.destroy();
    }
  });
  return stats;
}

const statsByServer = new WeakMap<Server, ConnectionStats>();

/** The guard's counters of a server it guards. */
export function connectionStatsOf(server: Server): ConnectionStats | undefined {
  return statsByServer.get(server);
}

const REFUSED = Symbol('chartd.refusedConnection');

/** True for a socket already answered 503 by the guard: a request parsed from it gets no second answer. */
export function isRefusedConnection(socket: Socket | undefined): boolean {
  return socket !== undefined && (socket as Socket & { [REFUSED]?: boolean })[REFUSED] === true;
}

function refuse(socket: Socket, why: string): void {
  (socket as Socket & { [REFUSED]?: boolean })[REFUSED] = true;
  socket.on('error', () => undefined);
  writeRawError(socket, new ChartdError('TOO_MANY_CONNECTIONS', `${why}; close idle connections or retry shortly`));
}
