import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { OPTION_SPECS, SERVICE_DEFAULTS, resolveServiceOptions, type ServiceOptions } from '../options.js';
import { ApiKeysFileError } from '../server/api-keys.js';
import { startService, type RunningService } from '../service.js';

export function serveHelp(): string {
  const flagWidth = Math.max(...OPTION_SPECS.map((spec) => spec.flag.length)) + 2;
  const envWidth = Math.max(...OPTION_SPECS.map((spec) => spec.env.length));
  const rows = OPTION_SPECS.map((spec) => {
    const value = SERVICE_DEFAULTS[spec.key] === '' ? '(none)' : String(SERVICE_DEFAULTS[spec.key]);
    return `  ${`--${spec.flag}`.padEnd(flagWidth)} ${spec.env.padEnd(envWidth)} ${value.padEnd(10)} ${spec.description}`;
  });
  return `Usage: chartd serve [options]

Every option can also be set by its environment variable; a flag wins.

  ${'flag'.padEnd(flagWidth)} ${'environment'.padEnd(envWidth)} ${'default'.padEnd(10)} meaning
${rows.join('\n')}
  ${'--help'.padEnd(flagWidth)} this text

Stops on SIGTERM or SIGINT: stops accepting, finishes accepted requests (up to
--drain-timeout), ends the workers, exits 0. On SIGTERM, first serves on for
--drain-delay with /readyz failing, for load balancers to stop sending requests.
`;
}

/**
 * V8 flags for the service's own process, set when it starts: `--heap-growing-percent=200`.
 * Every answer crosses this process as ~100 KB buffers (the worker's message as it
 * arrives, the image read out of it), and V8 counts those external bytes towards the
 * next full collection, growing the limit to only ~1.5x of what survived: with a
 * 15 MB heap that was a mark-compact every ~30 PNG requests, ~1 ms of CPU a
 * request. A growth of 3x makes it one in ~100 for ~25 MB more peak RSS
 * (bench/RESULTS.md, "The service process's GC"). The workers run with the same
 * flag (WORKER_V8_FLAGS). Set here, not in the library: an embedding process's
 * heap is its owner's to tune.
 */
const SERVICE_V8_FLAGS = '--heap-growing-percent=200';

export async function runServeCommand(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        help: { type: 'boolean', short: 'h' },
        // A boolean option is a bare flag (--require-signature); its variable takes true or false.
        ...Object.fromEntries(OPTION_SPECS.map((spec) => [spec.flag, { type: spec.kind === 'boolean' ? ('boolean' as const) : ('string' as const) }])),
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`chartd serve: ${(error as Error).message}\n\nRun "chartd serve --help" for the options.\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(serveHelp());
    return 0;
  }
  let options: ServiceOptions;
  try {
    options = resolveServiceOptions(values);
  } catch (error) {
    process.stderr.write(`chartd serve: ${(error as Error).message}\n`);
    return 2;
  }
  setFlagsFromString(SERVICE_V8_FLAGS);
  let service: RunningService;
  try {
    service = await startService(options);
  } catch (error) {
    // A bad --api-keys file is the operator's to fix: its message names the file and the problem.
    if (error instanceof ApiKeysFileError) {
      process.stderr.write(`chartd serve: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  watchProcessErrors(service);
  service.app.log.info(
    { url: service.url, workers: options.workers, queue: options.queue, timeoutMs: options.timeoutMs },
    `chartd listening on ${service.url}`,
  );
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      service.app.log.info({ signal }, 'signal received');
      // A second signal while draining means "now".
      process.once(signal, () => resolve(1));
      // SIGTERM comes from orchestrators, with a load balancer in front: leave its rotation
      // first (--drain-delay). SIGINT is a terminal's Ctrl-C: nobody balances to it.
      (signal === 'SIGTERM' ? service.shutdown() : service.close()).then(
        () => resolve(0),
        (error: unknown) => {
          service.app.log.error({ err: error }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

/** How long an uncaught exception leaves for accepted requests before the process exits. */
const FATAL_DRAIN_MS = 5_000;

/**
 * The process-wide error policy. An unhandled promise rejection is logged and
 * counted, and the service goes on: the promise's owner lost an answer, nothing
 * more. An uncaught exception leaves state unknown: it is logged and counted,
 * accepted requests get a few seconds, and the process exits 1 for its
 * supervisor to restart it (crash-only, never silent).
 */
function watchProcessErrors(service: RunningService): void {
  const log = service.app.log;
  process.on('unhandledRejection', (reason) => {
    service.metrics.countInternalError('unhandled_rejection');
    log.error({ err: reason }, 'unhandled promise rejection (the service goes on)');
  });
  let fatal = false;
  process.on('uncaughtException', (error, origin) => {
    service.metrics.countInternalError('uncaught_exception');
    log.fatal({ err: error, origin }, 'uncaught exception: the process state is unknown; draining briefly, then exiting 1');
    if (fatal) return;
    fatal = true;
    const exit = setTimeout(() => process.exit(1), FATAL_DRAIN_MS);
    exit.unref();
    void service.close().finally(() => process.exit(1));
  });
}
