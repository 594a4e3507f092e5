/**
 * Tool-call ids must survive a round trip through a client that speaks another format: the
 * client echoes the id we gave it, and the next request must map it back to the same call.
 *
 * - Anthropic only accepts ids matching ^[a-zA-Z0-9_-]+$; others are rewritten the same way on
 *   the call and on its result, so the pair still matches.
 * - Gemini has no ids (newer models may send one): ids are synthesized from the request id and
 *   the call's position, deterministic so a replayed response gets the same ones.
 * - Gemini 3 wants each call's thoughtSignature back. Only Gemini clients have a place for it, so
 *   for the others it rides inside the id (base64url, which is also Anthropic-safe) and the
 *   Gemini writer takes it out again.
 */

const UNSAFE = /[^a-zA-Z0-9_-]/g;

export function anthropicSafeId(id: string): string {
  return id.replace(UNSAFE, '_');
}

export function synthesizedCallId(requestId: string, index: number): string {
  return `call_${anthropicSafeId(requestId)}_${index}`;
}

const SIGNATURE_MARK = '__ts_';

export function idWithSignature(id: string, signature: string | undefined): string {
  if (signature === undefined || signature === '') return id;
  return id + SIGNATURE_MARK + signature.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function signatureFromId(id: string): string | undefined {
  const at = id.indexOf(SIGNATURE_MARK);
  if (at < 0) return undefined;
  const b64 = id.slice(at + SIGNATURE_MARK.length).replace(/-/g, '+').replace(/_/g, '/');
  return b64 + '='.repeat((4 - (b64.length % 4)) % 4);
}

export function idWithoutSignature(id: string): string {
  const at = id.indexOf(SIGNATURE_MARK);
  return at < 0 ? id : id.slice(0, at);
}
