import { parseArgs } from 'node:util';
import { OPTION_SPECS, SERVICE_DEFAULTS, resolveServiceOptions, type ServiceOptions } from '../options.js';
import { startService } from '../service.js';

export function serveHelp(): string {
  const rows = OPTION_SPECS.map((spec) => {
    const value = SERVICE_DEFAULTS[spec.key];
    return `  --${spec.flag.padEnd(24)} ${spec.env.padEnd(31)} default ${String(value).padEnd(10)} ${spec.description}`;
  });
  return `Usage: chartd serve [options]

Every option can also be set by its environment variable; a flag wins.

  ${'flag'.padEnd(26)} ${'environment'.padEnd(31)} ${'default'.padEnd(18)} meaning
${rows.join('\n')}
  --help                     this text

Stops on SIGTERM or SIGINT: stops accepting, finishes accepted requests (up to
--drain-timeout), ends the workers, exits 0.
`;
}

export async function runServeCommand(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(OPTION_SPECS.map((spec) => [spec.flag, { type: 'string' as const }])),
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
  const service = await startService(options);
  service.app.log.info(
    { url: service.url, workers: options.workers, queue: options.queue, timeoutMs: options.timeoutMs },
    `chartd listening on ${service.url}`,
  );
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      service.app.log.info({ signal }, 'signal received');
      // A second signal while draining means "now".
      process.once(signal, () => resolve(1));
      service.close().then(
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
