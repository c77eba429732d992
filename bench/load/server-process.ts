import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';

export interface ServerProcess {
  pid: number;
  url: URL;
  /** The admin listener, when the server has one (chartd). */
  adminUrl: URL | undefined;
  /** Resolves with the exit code (or signal) when the process ends, expectedly or not. */
  exited: Promise<string>;
  /** Set once the process has ended. */
  exitedWith: string | undefined;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<string>;
}

export interface SpawnServerOptions {
  /** Arguments to node (script first). */
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** stdout and stderr go here. */
  logFile: string;
  readyTimeoutMs?: number;
}

/**
 * Starts a Node server as a child and waits until it logs a JSON line with a `url`
 * and a msg containing "listening on" (chartd and the baselines both do). chartd's
 * admin listener logs `listener: "admin"` with "Server listening at <url>".
 */
export async function spawnServer(options: SpawnServerOptions): Promise<ServerProcess> {
  const log = createWriteStream(options.logFile, { flags: 'a' });
  log.on('error', () => undefined); // a lost log line must not end the run
  const child = spawn(process.execPath, options.args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.pipe(log, { end: false });
  child.once('close', () => log.end());
  let exitedWith: string | undefined;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      exitedWith = signal ?? `code ${code}`;
      resolve(exitedWith);
    });
  });
  const ready = waitForListening(child, log, options.readyTimeoutMs ?? 60_000);
  const started = await Promise.race([ready, exited.then((how) => new Error(`server exited (${how}) before listening; see ${options.logFile}`))]);
  if (started instanceof Error) throw started;
  const server: ServerProcess = {
    pid: child.pid!,
    url: started.url,
    adminUrl: started.adminUrl,
    exited,
    get exitedWith() {
      return exitedWith;
    },
    async stop(graceMs = 40_000) {
      if (exitedWith) return exitedWith;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const how = await exited;
      clearTimeout(timer);
      return how;
    },
  };
  return server;
}

function waitForListening(child: ChildProcess, log: WriteStream, timeoutMs: number): Promise<{ url: URL; adminUrl: URL | undefined }> {
  return new Promise((resolve, reject) => {
    let adminUrl: URL | undefined;
    let done = false;
    const timer = setTimeout(() => reject(new Error(`server did not log "listening on" within ${timeoutMs} ms`)), timeoutMs);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      log.write(line + '\n');
      if (done || !line.startsWith('{')) return;
      let entry: { msg?: string; url?: string; listener?: string };
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      const at = /listening at (\S+)/.exec(entry.msg ?? '');
      if (entry.listener === 'admin' && at) adminUrl = new URL(at[1]!);
      if (entry.url && /listening on/.test(entry.msg ?? '')) {
        done = true;
        clearTimeout(timer);
        resolve({ url: new URL(entry.url), adminUrl });
      }
    });
  });
}
