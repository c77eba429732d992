import type { Canvas } from '@napi-rs/canvas';
import type { ChartInstance, ChartJsRuntime } from './chartjs/runtimes.js';
import { trackHandle, untrackHandle } from './leak-sentinel.js';
import { acquireRasterCanvas, releaseRasterCanvas } from './surfaces.js';

/**
 * A raster canvas on loan from this thread's reusable canvas. Dispose it (or
 * `using` it): a handle dropped without dispose is counted by the leak sentinel.
 *
 * @example
 * ```ts
 * using surface = openCanvas(500, 300);
 * surface.canvas.getContext('2d').fillRect(0, 0, 10, 10);
 * ```
 */
export class CanvasHandle implements Disposable {
  readonly canvas: Canvas;
  #disposed = false;

  constructor(width: number, height: number) {
    this.canvas = acquireRasterCanvas(width, height);
    trackHandle(this, 'canvas');
  }

  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    untrackHandle(this);
    releaseRasterCanvas(this.canvas);
  }
}

/**
 * A Chart.js chart, drawn on creation (animation is off). Disposing destroys it,
 * which removes it from Chart.js' global registry and clears its canvas.
 */
export class ChartHandle implements Disposable {
  readonly chart: ChartInstance;
  #disposed = false;

  constructor(runtime: ChartJsRuntime, canvas: object, config: Record<string, unknown>) {
    this.chart = runtime.createChart(canvas, config);
    trackHandle(this, 'chart');
  }

  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    untrackHandle(this);
    this.chart.destroy();
  }
}

export function openCanvas(width: number, height: number): CanvasHandle {
  return new CanvasHandle(width, height);
}
