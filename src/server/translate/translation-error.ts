/**
 * A request the target format cannot express (a document type it cannot take, a stateful
 * Responses feature, …). The gateway answers the client with `status` and `message` in the
 * client's own error format (see makeError); it is never retried on another upstream of the same
 * format, because the same translation would fail the same way.
 */
export class TranslationError extends Error {
  readonly code = 'E_TRANSLATION';
  readonly status: number;

  constructor(message: string, status = 400) {
    super(message);
    this.name = 'TranslationError';
    this.status = status;
  }
}

export function isTranslationError(error: unknown): error is TranslationError {
  return error instanceof TranslationError;
}
