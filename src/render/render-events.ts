import diagnosticsChannel from 'node:diagnostics_channel';
import type { ChartdError } from '../errors.js';
import type { RenderJob } from './job.js';

/**
 * Rendering publishes one event per render; metrics subscribe. src/render never
 * imports a metrics library (STYLE.md, "Instrumentation stays out of the hot code").
 */
export const renderChannel = diagnosticsChannel.channel('chartd:render');

export interface RenderEvent {
  job: RenderJob;
  durationMs: number;
  timings?: { drawMs: number; encodeMs: number };
  error?: ChartdError;
}

export function publishRender(event: RenderEvent): void {
  if (renderChannel.hasSubscribers) renderChannel.publish(event);
}
