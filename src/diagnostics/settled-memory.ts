import { setImmediate as nextTurn } from 'node:timers/promises';
import { getHeapCodeStatistics } from 'node:v8';
import { collectGarbage } from './profilers.js';

/**
 * What this process holds once every collectable object is gone: the heap and
 * external (Buffer, ArrayBuffer) memory read right after a forced full GC. The
 * leak detector's heap and external signals.
 *
 * A major GC that V8 starts on its own leaves old-generation garbage and what
 * was allocated while it marked; a worker's post-GC heap read that way wandered
 * by megabytes and climbed 1.2 KB per render for thousands of renders, so only a
 * leak of ~17 MB/h showed within 10 minutes. After a forced full GC, code left
 * out, a clean worker's heap held within 0.23 MiB for 10 minutes (the clean server
 * of test/e2e/leak.e2e.ts), which is what lets a leak of a few MB an hour show
 * (docs/LEAKS.md, "How long a verdict takes").
 */
export interface SettledMemory {
  heapBytes: number;
  /**
   * Of heapBytes, compiled code and bytecode with their metadata. V8 compiles and
   * optimizes a function when it gets hot, so a clean worker's code grows for
   * thousands of renders (a heap snapshot diff of one over 900 renders: 282 of
   * 310 kB of growth was code); the heap signal leaves it out.
   */
  codeBytes: number;
  externalBytes: number;
}

export async function settleMemory(): Promise<SettledMemory> {
  await collectGarbage();
  // Backing stores of collected ArrayBuffers are freed by a sweeper after the GC returns.
  await nextTurn();
  const memory = process.memoryUsage();
  const code = getHeapCodeStatistics();
  return { heapBytes: memory.heapUsed, codeBytes: code.code_and_metadata_size + code.bytecode_and_metadata_size, externalBytes: memory.external };
}
