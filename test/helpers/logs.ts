import type { FastifyBaseLogger } from 'fastify';

/** A logger that keeps the warnings (fields and message) a component logs, for its tests to read. */
export function collectingLogger() {
  const warnings: Array<{ fields: Record<string, unknown>; message: string }> = [];
  const log = {
    warn: (fields: Record<string, unknown>, message: string) => warnings.push({ fields, message }),
    info: () => undefined,
  } as unknown as FastifyBaseLogger;
  return { log, warnings };
}
