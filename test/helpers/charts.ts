/** Chart configs shared by tests and benchmarks: what real users send. */

export const CHART_TYPES = ['line', 'bar', 'pie', 'doughnut', 'radar', 'polarArea', 'scatter', 'bubble'] as const;

export function sampleConfig(type: (typeof CHART_TYPES)[number], points = 6): Record<string, unknown> {
  const labels = Array.from({ length: points }, (_, i) => `L${i}`);
  const values = Array.from({ length: points }, (_, i) => ((i * 37) % 11) + 1);
  const data =
    type === 'scatter'
      ? values.map((y, x) => ({ x, y }))
      : type === 'bubble'
        ? values.map((y, x) => ({ x, y, r: 4 + (y % 5) * 3 }))
        : values;
  return {
    type,
    data: {
      labels,
      datasets: [
        { label: 'first', data, backgroundColor: 'rgba(220, 20, 60, 0.8)', borderColor: 'rgb(220, 20, 60)' },
        { label: 'second', data: Array.isArray(data) ? [...data].reverse() : data },
      ],
    },
  };
}

/** A statistics line chart as alerting sends it: per-minute timestamps on a time axis. */
export function timeSeriesConfig(minutes: number, version: 2 | 3 | 4): Record<string, unknown> {
  const start = Date.UTC(2026, 10, 27, 0, 0, 0);
  const data = Array.from({ length: minutes }, (_, i) => ({ x: start + i * 60_000, y: 50 + 40 * Math.sin(i / 60) }));
  const scales =
    version === 2
      ? { xAxes: [{ type: 'time', time: { unit: 'hour' } }] }
      : { x: { type: 'time', time: { unit: 'hour' } } };
  return {
    type: 'line',
    data: { datasets: [{ label: 'requests/min', data, borderColor: 'rgb(0, 0, 255)', pointRadius: 0, fill: false }] },
    options: { scales },
  };
}

/**
 * QuickChart's default cell as the GC tests send it: 400x300 at devicePixelRatio 2
 * (an 800x600 PNG) of a 100-point line, `i` making each request a different chart.
 */
export function lineRequest800x600(i: number): Record<string, unknown> {
  return {
    width: 400,
    height: 300,
    devicePixelRatio: 2,
    chart: {
      type: 'line',
      data: { labels: Array.from({ length: 100 }, (_, k) => k), datasets: [{ label: `series ${i}`, data: Array.from({ length: 100 }, (_, k) => 50 + 30 * Math.sin(k / 12 + i)) }] },
    },
  };
}
