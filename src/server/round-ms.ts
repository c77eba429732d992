/** Milliseconds to two decimals, for log fields. */
export function roundMs(ms: number): number {
  return Math.round(ms * 100) / 100;
}
