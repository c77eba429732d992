/**
 * When a process's warm-up is over: both this long after it started and this many
 * renders served (a worker; the main process counts time only). Before it, memory
 * climbs without any leak (modules, compiled code, caches, the first major GCs).
 * One notion for the leak detector, which ignores the climb, and for heap profiles
 * `?since=warmup`, which show what was allocated after it and is still held, and
 * has been for `heldMs` (what each render replaces is younger than that).
 */
export const WARM_UP = Object.freeze({ ms: 120_000, renders: 200, heldMs: 60_000 });

export type WarmUp = { readonly ms: number; readonly renders: number; readonly heldMs: number };
