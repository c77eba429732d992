/**
 * The HTTP part of the baselines: a plain node:http server with GET/POST /chart
 * taking the same parameters as chartd (c/chart, w/width, h/height,
 * devicePixelRatio, f/format, backgroundColor), config as JSON only. What a team
 * writes in an afternoon; the render function is the part that differs.
 * Run through chartjs-no-destroy.ts or chartjs-destroy.ts.
 */
import http from 'node:http';
import { parseArgs } from 'node:util';

export interface ChartParams {
  config: Record<string, any>;
  width: number;
  height: number;
  devicePixelRatio: number;
  format: 'png' | 'jpeg' | 'webp';
}

export type RenderFunction = (params: ChartParams) => Promise<Buffer>;

const CONTENT_TYPES = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' } as const;
const MAX_BODY_BYTES = 2 * 1024 * 1024;

export function serveCharts(name: string, render: RenderFunction): void {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } } });
  // chartd takes 64 KiB URLs (docs/API.md); Node's default of 16 KiB would refuse
  // the GET form of the larger scenarios, so the baselines take the same.
  const server = http.createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
    handle(req, res, render).catch((error: Error) => reply(res, 500, { error: 'render failed', code: 'INTERNAL', message: error.message, statusCode: 500 }));
  });
  server.listen(Number(values.port), values.host, () => {
    const { port } = server.address() as { port: number };
    const url = `http://${values.host}:${port}`;
    console.log(JSON.stringify({ msg: `${name} listening on ${url}`, url, pid: process.pid }));
  });
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, render: RenderFunction): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname !== '/chart' || (req.method !== 'GET' && req.method !== 'POST')) {
    return reply(res, 404, { error: 'Not found', code: 'NOT_FOUND', message: `no route ${req.method} ${url.pathname}`, statusCode: 404 });
  }
  let input: Record<string, unknown>;
  try {
    input = req.method === 'GET' ? Object.fromEntries(url.searchParams) : JSON.parse(await readBody(req));
    const chart = input.chart ?? input.c;
    const params: ChartParams = {
      config: typeof chart === 'string' ? JSON.parse(chart) : (chart as Record<string, any>),
      width: Number(input.width ?? input.w ?? 500),
      height: Number(input.height ?? input.h ?? 300),
      devicePixelRatio: Number(input.devicePixelRatio ?? 2),
      format: String(input.format ?? input.f ?? 'png') as ChartParams['format'],
    };
    if (!params.config || !(params.format in CONTENT_TYPES)) throw new Error('chart missing or format not png, jpeg, webp');
    const body = await render(params);
    res.writeHead(200, { 'content-type': CONTENT_TYPES[params.format], 'content-length': body.length });
    res.end(body);
  } catch (error) {
    return reply(res, 400, { error: 'Bad request', code: 'PARAM_INVALID', message: (error as Error).message, statusCode: 400 });
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy(new Error('body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: http.ServerResponse, status: number, body: object): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
