/**
 * The leak sentinel: every chart and canvas handle made through chartd's API is
 * registered here and unregistered when disposed. One that is garbage-collected
 * while still registered was dropped without dispose(): counted, and in
 * development (NODE_ENV=development or CHARTD_DEV=1) reported with the stack that
 * created it. Counts are per thread; workers report theirs with every render.
 */
export type HandleKind = 'chart' | 'canvas';

interface Held {
  kind: HandleKind;
  stack: string | undefined;
}

const leaked: Record<HandleKind, number> = { chart: 0, canvas: 0 };
const developmentMode = process.env.NODE_ENV === 'development' || process.env.CHARTD_DEV === '1';

const registry = new FinalizationRegistry<Held>((held) => {
  leaked[held.kind]++;
  if (developmentMode) {
    process.emitWarning(`a ${held.kind} handle was garbage-collected without dispose(); created at:\n${held.stack ?? '(no stack)'}`, {
      code: 'CHARTD_LEAKED_HANDLE',
    });
  }
});

export function trackHandle(handle: object, kind: HandleKind): void {
  registry.register(handle, { kind, stack: developmentMode ? new Error().stack : undefined }, handle);
}

export function untrackHandle(handle: object): void {
  registry.unregister(handle);
}

/** Handles of this thread collected without dispose, by kind. */
export function leakedHandleCounts(): Readonly<Record<HandleKind, number>> {
  return { ...leaked };
}
