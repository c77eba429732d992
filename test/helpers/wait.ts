import assert from 'node:assert/strict';

/** Polls until `condition` holds; fails the test with `what` after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 10): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new assert.AssertionError({ message: `timed out after ${timeoutMs} ms waiting for: ${what}` });
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Retries `check` (an assertion that throws) until it passes; after `timeoutMs`, its last failure fails the test. */
export async function eventually(check: () => Promise<void>, timeoutMs = 10_000, everyMs = 100): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > until) throw error;
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
