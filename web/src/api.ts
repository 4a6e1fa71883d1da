// The JSON API as the pages call it, and how they show what went wrong.

import type { ErrorBody } from './protocol';

/** A refused API request: its HTTP status and the server's error body. */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {
    super(body.message);
  }
}

/** A JSON API request with the session's CSRF token; errors throw RequestError. */
export async function api(method: string, url: string, csrf: string, body?: unknown): Promise<unknown> {
  const res = await fetch(url, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? { 'X-CSRF-Token': csrf } : { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const parsed: unknown = await res.json().catch(() => undefined);
  if (!res.ok) {
    const e = (parsed as { error?: ErrorBody } | undefined)?.error;
    throw new RequestError(res.status, e ?? { code: 'internal', message: `HTTP ${res.status}` });
  }
  return parsed;
}

/** The message of a caught error. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Shows msg in el, or hides el for no message. */
export function show(el: HTMLElement | null, msg: string): void {
  if (!el) return;
  el.textContent = msg;
  el.hidden = msg === '';
}
