import diagnosticsChannel from 'node:diagnostics_channel';
import type { ChartdError } from '../errors.js';
import type { RenderJob } from './job.js';

/**
 * Rendering publishes events; instrumentation subscribes. src/render never
 * imports a metrics library (docs/ARCHITECTURE.md, "Instrumentation").
 *
 * - `chartd:render:start` ({ job }) before a job is drawn, synchronously, in the
 *   process that draws it;
 * - `chartd:render` (RenderEvent) after it, with its timings or its error.
 */
export const renderStartChannel = diagnosticsChannel.channel('chartd:render:start');
export const renderChannel = diagnosticsChannel.channel('chartd:render');

export interface RenderStartEvent {
  job: RenderJob;
}

export interface RenderEvent {
  job: RenderJob;
  durationMs: number;
  timings?: { drawMs: number; encodeMs: number };
  error?: ChartdError;
}

export function publishRenderStart(event: RenderStartEvent): void {
  if (renderStartChannel.hasSubscribers) renderStartChannel.publish(event);
}

export function publishRender(event: RenderEvent): void {
  if (renderChannel.hasSubscribers) renderChannel.publish(event);
}
