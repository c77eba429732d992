import { createHash } from 'node:crypto';
/**
 * A strong ETag from the normalized job (a RenderJob, a QR code's parameters):
 * the same chart asked for by GET or POST, with long or short parameter names,
 * gets the same tag. The chartd version is part of it, since an upgrade may draw
 * the same config differently.
 */
export function computeEtag(job: object, chartdVersion: string): string {
  const hash = createHash('sha256').update(chartdVersion).update('\0').update(JSON.stringify(job)).digest('base64url');
  return `"${hash.slice(0, 32)}"`;
}

/** RFC 9110 If-None-Match: a list of tags (weak ones compare weakly) or "*". */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((candidate) => candidate.trim().replace(/^W\//, '') === etag);
}
