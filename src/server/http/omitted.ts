/**
 * What a translated request left out because the upstream cannot take it (docs/translation.md,
 * `translation.unsupported: omit`) is said twice: to the client in the `x-ai-proxy-omitted`
 * header (`tool:web_search, item:web_search_call`), and to the operator in one warning line per
 * request. A retry on another upstream says what that one left out (nothing, for a passthrough).
 */
import type { ServerResponse } from 'node:http';

export const OMITTED_HEADER = 'x-ai-proxy-omitted';

export function reportOmitted(res: ServerResponse, omitted: readonly string[], warn: (message: string) => void, about: string): void {
  if (res.headersSent) return;
  if (omitted.length === 0) {
    res.removeHeader(OMITTED_HEADER);
    return;
  }
  const value = omitted.join(', ');
  // The same list again (a retry on another key or provider of that format) is not news.
  if (res.getHeader(OMITTED_HEADER) === value) return;
  res.setHeader(OMITTED_HEADER, value);
  warn(`${about}: sent without what the upstream cannot take: ${value}`);
}
