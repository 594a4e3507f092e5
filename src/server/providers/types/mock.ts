/** The built-in mock (providers/mock.ts): answers every client format itself, in-process, with no key. */
import type { ProviderDescriptor } from '../descriptor.ts';
import { serveMock } from '../mock.ts';

const NOTHING = Object.freeze([] as const);

const notHttp = (): never => {
  throw new Error('the mock provider is served in-process, never over HTTP');
};

export const mock: ProviderDescriptor = {
  type: 'mock',
  family: 'any',
  speaks: () => NOTHING,
  translatesTo: () => 'any',
  defaultBaseUrl: null,
  applyCredential: () => undefined,
  passthroughUrl: notHttp,
  translatedUrl: notHttp,
  readError: (status) => ({ status, message: `The upstream returned HTTP ${status}.` }),
  waitMs: () => null,
  models: null,
  // It answers counts itself (serveLocally).
  countTokens: null,
  serveLocally: serveMock,
};
