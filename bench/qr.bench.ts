/**
 * QR codes: chartd's renderer (qrcode's symbol, pixels scaled by libvips) against
 * qrcode's own PNG renderer (pngjs, what QuickChart serves), and the SVG path.
 * Median of several runs per size, in process. Run: npm run bench:qr
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type QRCodeModule from 'qrcode';
import { resolveQrJob } from '../src/render/qr/qr-job.js';
import { renderQr } from '../src/render/qr/render-qr.js';
import { describeMachine, printTable } from './machine.js';
import { percentileOf } from './load/stats.js';

const qrcode = createRequire(import.meta.url)('qrcode') as typeof QRCodeModule;
const TEXT = 'https://example.com/orders/2026/12/01?customer=48151623&ref=chartd';
const SIZES = [150, 600, 1500, 3000];

async function median(runs: number, body: () => Promise<Buffer>): Promise<{ ms: number; bytes: number }> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    bytes = (await body()).length;
    times.push(performance.now() - started);
  }
  return { ms: percentileOf(times, 50), bytes };
}

console.log(`chartd QR codes: ${describeMachine()}; "${TEXT}" (${TEXT.length} characters), level M, margin 4\n`);
await renderQr(resolveQrJob({ text: 'warm up' }));
await qrcode.toBuffer('warm up');
const rows: Array<Array<string | number>> = [];
for (const size of SIZES) {
  const runs = size >= 1500 ? 5 : 20;
  const theirs = await median(runs, () => qrcode.toBuffer(TEXT, { width: size, margin: 4 }));
  const ours = await median(runs, async () => (await renderQr(resolveQrJob({ text: TEXT, size: String(size) }))).body);
  const svg = await median(runs, async () => (await renderQr(resolveQrJob({ text: TEXT, size: String(size), format: 'svg' }))).body);
  rows.push([size, theirs.ms.toFixed(1), theirs.bytes, ours.ms.toFixed(1), ours.bytes, (theirs.ms / ours.ms).toFixed(1), svg.ms.toFixed(2), svg.bytes]);
}
printTable(['size px', 'qrcode PNG ms', 'bytes', 'chartd PNG ms', 'bytes', 'speed-up', 'chartd SVG ms', 'bytes'], rows);
