import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { getHeapSnapshot } from 'node:v8';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CaptureGate } from '../../diagnostics/capture-gate.js';
import { captureCpuProfile, captureHeapProfile, type HeapProfileScope } from '../../diagnostics/profilers.js';
import { ChartdError } from '../../errors.js';
import type { RenderPool } from '../../pool/render-pool.js';

const MAX_PROFILE_SECONDS = 60;

/**
 * The admin port's captures: pprof heap and CPU profiles and heap snapshots, of the
 * main process or of one worker (`?worker=N`). One CPU profile or heap snapshot at a time.
 */
export function registerCaptureRoutes(app: FastifyInstance, pool: RenderPool): void {
  const gate = new CaptureGate();
  app.get('/debug/pprof/heap', async (request, reply) => {
    const worker = parseWorker(request, pool);
    const scope = parseScope(request);
    const profile =
      worker === undefined ? await captureHeapProfile(scope) : await pool.captureProfile(worker, scope === 'warmup' ? 'heap-growth' : 'heap-profile');
    return sendProfile(reply, profile, `heap-${threadName(worker)}${scope === 'warmup' ? '-since-warmup' : ''}.pb.gz`);
  });

  app.get('/debug/pprof/profile', async (request, reply) => {
    const worker = parseWorker(request, pool);
    const seconds = parseSeconds(request);
    const profile = await gate.run(`CPU profile of ${threadName(worker)}`, () =>
      worker === undefined ? captureCpuProfile(seconds) : pool.captureProfile(worker, 'cpu-profile', seconds),
    );
    return sendProfile(reply, profile, `cpu-${threadName(worker)}.pb.gz`);
  });

  app.get('/debug/heapsnapshot', async (request, reply) => {
    const worker = parseWorker(request, pool);
    let release!: () => void;
    gate.hold(`heap snapshot of ${threadName(worker)}`, new Promise<void>((resolve) => (release = resolve)));
    let stream: Readable;
    try {
      if (worker === undefined) stream = getHeapSnapshot();
      else {
        // Written by the worker process to a private file, then streamed from disk:
        // a slow client holds a file descriptor, not the worker or its memory.
        const file = await pool.captureHeapSnapshot(worker);
        stream = createReadStream(file.path);
        reply.header('Content-Length', String(file.sizeBytes));
        stream.once('close', () => void file.remove());
      }
    } catch (error) {
      release();
      throw error;
    }
    // The gate holds until the last byte is read out (one snapshot file at a time,
    // even for a client that never reads), not until the socket closes.
    stream.once('end', release);
    stream.once('close', release);
    stream.once('error', release);
    request.log.warn({ thread: threadName(worker) }, 'heap snapshot taken: it contains every secret in memory, handle it so');
    return reply
      .type('application/json')
      .header('Content-Disposition', `attachment; filename="chartd-${threadName(worker)}-${Date.now()}.heapsnapshot"`)
      .header('Cache-Control', 'no-store')
      .send(stream);
  });
}

function sendProfile(reply: FastifyReply, profile: Buffer, filename: string): FastifyReply {
  return reply
    .type('application/octet-stream')
    .header('Content-Disposition', `attachment; filename="${filename}"`)
    .header('Cache-Control', 'no-store')
    .send(profile);
}

function threadName(worker: number | undefined): string {
  return worker === undefined ? 'main' : `worker-${worker}`;
}

export function parseWorker(request: FastifyRequest, pool: RenderPool): number | undefined {
  const value = (request.query as Record<string, string | undefined>).worker;
  return value === undefined || value === '' ? undefined : parseWorkerParam(value, pool);
}

export function parseWorkerParam(value: string, pool: RenderPool): number {
  const worker = Number(value);
  if (!Number.isInteger(worker) || worker < 0 || worker >= pool.options.workers) {
    throw new ChartdError('PARAM_INVALID', `worker must be an integer from 0 to ${pool.options.workers - 1}, got "${value}"`);
  }
  return worker;
}

/** `since=warmup`: only what was allocated after the process's warm-up and is still held (its growth). */
function parseScope(request: FastifyRequest): HeapProfileScope {
  const value = (request.query as Record<string, unknown>).since;
  if (value === undefined || value === '' || value === 'boot') return 'boot';
  if (value === 'warmup') return 'warmup';
  throw new ChartdError('PARAM_INVALID', `since must be "warmup" or "boot", got "${String(value).slice(0, 40)}"`);
}

function parseSeconds(request: FastifyRequest): number {
  const value = (request.query as Record<string, string | undefined>).seconds;
  if (value === undefined || value === '') return 10;
  const seconds = Number(value);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_PROFILE_SECONDS) {
    throw new ChartdError('PARAM_INVALID', `seconds must be an integer from 1 to ${MAX_PROFILE_SECONDS}, got "${value}"`);
  }
  return seconds;
}
