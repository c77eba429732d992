import { sendRequest, type ClientOptions, type Outcome } from './http-client.js';
import type { LoadRequest } from './request-mix.js';
import type { Recorder } from './recorder.js';

export interface LoadOptions {
  next(): LoadRequest;
  concurrency: number;
  /** Stop issuing after this many requests (undefined: no limit). */
  requests: number | undefined;
  /** Stop issuing after this performance.now() (undefined: no limit). */
  until: number | undefined;
  /** Stop issuing when this aborts (Ctrl-C). */
  signal: AbortSignal;
  client: ClientOptions;
  recorder: Recorder;
  onOutcome?(outcome: Outcome): void;
}

/**
 * A closed loop of `concurrency` clients: each sends a request, waits for how it
 * ends, and sends the next. Every request's outcome is recorded, so a lost
 * request is counted, not averaged away (autocannon reports rates, not outcomes).
 */
export async function runLoad(options: LoadOptions): Promise<number> {
  let issued = 0;
  const more = () =>
    !options.signal.aborted &&
    (options.requests === undefined || issued < options.requests) &&
    (options.until === undefined || performance.now() < options.until);
  const client = async () => {
    while (more()) {
      issued++;
      const outcome = await sendRequest(options.next(), options.client);
      options.recorder.record(outcome);
      options.onOutcome?.(outcome);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, client));
  return issued;
}
