import Module, { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

type ResolveFilename = (request: string, parent: unknown, ...rest: unknown[]) => string;
const ModuleInternals = Module as unknown as { _resolveFilename: ResolveFilename };

/**
 * Loads a Chart.js plugin bound to one Chart.js major. chartd ships Chart.js 2, 3
 * and 4 side by side (npm aliases `chartjs-v2`, `chartjs-v3` and `chart.js`), but
 * every plugin does `require('chart.js')`. While the plugin loads, that request
 * (and `chart.js/helpers`, `chart.js/auto`) is redirected to `chartPackage`; the
 * plugin's own module instances are then evicted from the cache, so the same
 * plugin package can be loaded again for another major. Loading is synchronous,
 * so the temporary redirect cannot leak into other code.
 */
export function requireWithChartJs<T = unknown>(chartPackage: string, request: string): T {
  const original = ModuleInternals._resolveFilename;
  const cachedBefore = new Set(Object.keys(require.cache));
  ModuleInternals._resolveFilename = function (this: unknown, req: string, parent: unknown, ...rest: unknown[]) {
    const redirected = req === 'chart.js' || req.startsWith('chart.js/') ? chartPackage + req.slice('chart.js'.length) : req;
    return original.call(this, redirected, parent, ...rest);
  };
  try {
    return require(request) as T;
  } finally {
    ModuleInternals._resolveFilename = original;
    const chartPackageDir = `/node_modules/${chartPackage}/`;
    for (const key of Object.keys(require.cache)) {
      if (!cachedBefore.has(key) && !key.includes(chartPackageDir)) delete require.cache[key];
    }
  }
}

export { require as requireCjs };
