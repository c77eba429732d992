import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/**
 * With --trust-proxy, the client is read from X-Forwarded-For (fastify's proxy-addr),
 * which takes any text as an address: "garbage", "x1", "x2" would each be a client of
 * their own, with a rate limit and a budget of their own. The header is cut, before
 * fastify reads it, to the hops nearest the socket that are IP addresses: from the
 * right, up to (not including) the first value that is not one. Nothing left, and
 * the header goes: the client is the proxy's own address.
 */
export function keepAddressHops(req: IncomingMessage): void {
  const header = req.headers['x-forwarded-for'];
  if (header === undefined) return;
  const hops = (Array.isArray(header) ? header.join(',') : header).split(',').map((hop) => hop.trim());
  let first = hops.length;
  while (first > 0 && isIP(hops[first - 1]!) !== 0) first--;
  if (first === 0) return;
  const kept = hops.slice(first);
  if (kept.length === 0) delete req.headers['x-forwarded-for'];
  else req.headers['x-forwarded-for'] = kept.join(', ');
}
