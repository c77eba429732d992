import { createRequire } from 'node:module';

/**
 * autocannon is a dependency of the benchmarks only (bench/package.json), installed
 * into bench/node_modules by the bench:http and bench:cells scripts. Compiled
 * benchmarks run from dist/bench, outside that tree, so it is loaded from there by
 * path; the few of its types they use are declared here, so that the service's own
 * build (which compiles bench/ too) needs nothing from bench/node_modules.
 */
export interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface AutocannonOptions {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  connections?: number;
  duration?: number;
  requests?: Array<{ setupRequest?: (request: AutocannonRequest) => AutocannonRequest }>;
}

export interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  throughput: { total: number };
  errors: number;
  non2xx: number;
  timeouts: number;
}

export function loadAutocannon(): (options: AutocannonOptions) => Promise<AutocannonResult> {
  const benchRequire = createRequire(new URL('../../../bench/package.json', import.meta.url));
  try {
    return benchRequire('autocannon') as (options: AutocannonOptions) => Promise<AutocannonResult>;
  } catch (error) {
    throw new Error('autocannon is not installed for the benchmarks: run `npm ci --prefix bench` (npm run bench:http does)', { cause: error });
  }
}
