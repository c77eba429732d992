import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';

/**
 * wrk (Debian's package) as the load generator of the HTTP benchmarks: written in
 * C, one thread of it drives ~40,000 small requests a second on a core, where
 * autocannon in Node reaches ~1,000 of these 800x600 PNGs. On a 2-core machine
 * the client shares the cores with the server, so a cheaper client leaves more
 * of them to the server under test, whichever server that is.
 */
const run = promisify(execFile);

export interface WrkCell {
  url: string;
  /**
   * The JSON body; with `uniqueMarker`, each request puts its own number after the
   * marker's first occurrence, prefixed by an id new for every run: wrk's Lua
   * starts each run with the same counter and the same random sequence, so
   * without it a run repeats the bodies of the run before, which a render cache
   * then answers.
   */
  body: string;
  uniqueMarker?: string;
  connections: number;
  seconds: number;
}

export interface WrkResult {
  rps: number;
  requests: number;
  p50: number;
  p99: number;
  errors: number;
  bytesPerResponse: number;
}

/** Whether wrk is on the PATH; if not and apt-get can run, installs it (as the test scripts install their tools). */
export function ensureWrk(): boolean {
  if (hasWrk()) return true;
  try {
    execFileSync('apt-get', ['install', '-y', '-q', 'wrk'], { stdio: 'ignore', timeout: 120_000 });
  } catch {
    return false;
  }
  return hasWrk();
}

function hasWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // wrk --version exits 1 after printing its version.
    return (error as { status?: number }).status === 1;
  }
}

export async function runWrk(cell: WrkCell): Promise<WrkResult> {
  const dir = mkdtempSync(join(tmpdir(), 'chartd-wrk-'));
  try {
    const bodyFile = join(dir, 'body.json');
    writeFileSync(bodyFile, cell.body);
    const script = join(dir, 'post.lua');
    writeFileSync(script, luaScript(bodyFile, cell.uniqueMarker));
    const { stdout } = await run('wrk', ['-t1', `-c${cell.connections}`, `-d${cell.seconds}s`, '--latency', '-s', script, cell.url], {
      timeout: (cell.seconds + 60) * 1000,
    });
    return parseWrk(stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function luaScript(bodyFile: string, uniqueMarker: string | undefined): string {
  const common = `local f = assert(io.open(${JSON.stringify(bodyFile)}, "rb"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
`;
  if (uniqueMarker === undefined) return `${common}wrk.body = body\n`;
  return `${common}local at = assert(string.find(body, ${JSON.stringify(uniqueMarker)}, 1, true)) + ${uniqueMarker.length - 1}
local before, after = string.sub(body, 1, at) .. " ${randomUUID()} #", string.sub(body, at + 1)
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, before .. n .. after)
end
`;
}

/** Reads wrk's --latency report. */
export function parseWrk(text: string): WrkResult {
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? NaN);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const transfer = /Transfer\/sec:\s+([\d.]+)([KMG]?B)/.exec(text);
  const unit = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[transfer?.[2] ?? 'B'] ?? 1;
  const nonOk = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  if (!Number.isFinite(requests) || !Number.isFinite(rps)) throw new Error(`could not read wrk's report:\n${text}`);
  return {
    rps,
    requests,
    p50: latencyMs(text, '50'),
    p99: latencyMs(text, '99'),
    errors: nonOk + socketErrors,
    bytesPerResponse: rps > 0 && transfer ? Math.round((Number(transfer[1]) * unit) / rps) : 0,
  };
}

function latencyMs(text: string, percentile: string): number {
  const match = new RegExp(`^\\s+${percentile}%\\s+([\\d.]+)(us|ms|s)\\b`, 'm').exec(text);
  if (!match) return NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}
