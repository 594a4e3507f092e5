/**
 * What went wrong, independent of any client format. Each format's vocabulary (formats/*.ts)
 * names every kind in its own words; the kind comes from the HTTP status unless the thrower
 * says otherwise (a 503 the gateway raises for its own shutdown is `overloaded` either way).
 */
export type ErrorKind =
  | 'invalid_request'
  | 'authentication'
  | 'billing'
  | 'permission'
  | 'not_found'
  | 'conflict'
  | 'request_too_large'
  | 'rate_limit'
  | 'server'
  | 'timeout'
  | 'overloaded';

export function kindOfStatus(status: number): ErrorKind {
  switch (status) {
    case 401:
      return 'authentication';
    case 402:
      return 'billing';
    case 403:
      return 'permission';
    case 404:
      return 'not_found';
    case 409:
      return 'conflict';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit';
    case 408:
    case 504:
      return 'timeout';
    case 503:
    case 529:
      return 'overloaded';
  }
  return status >= 500 ? 'server' : 'invalid_request';
}
