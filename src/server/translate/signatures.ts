/**
 * Reasoning signatures are only valid at the provider that issued them: Anthropic's thinking
 * signature, OpenAI's encrypted reasoning content, Gemini's thoughtSignature. A client of one
 * format keeps whatever it received in its own format's slot and sends it back; to return it to
 * the right provider (and never to another, which would reject the request), a signature written
 * into a foreign slot is tagged with its signer. Signatures are base64, so a `name:` prefix is
 * unambiguous, and untagged values are the slot's own provider's.
 */
export type Signer = 'anthropic' | 'openai' | 'gemini';

const SIGNERS: ReadonlySet<string> = new Set(['anthropic', 'openai', 'gemini']);

/** The value to put in a slot owned by `slotOwner`. */
export function signatureForSlot(slotOwner: Signer, signer: Signer, signature: string): string {
  return signer === slotOwner ? signature : `${signer}:${signature}`;
}

/** A slot's value back to its signer and signature. */
export function signatureFromSlot(slotOwner: Signer, value: string): { signer: Signer; signature: string } {
  const colon = value.indexOf(':');
  if (colon > 0) {
    const tag = value.slice(0, colon);
    if (SIGNERS.has(tag)) return { signer: tag as Signer, signature: value.slice(colon + 1) };
  }
  return { signer: slotOwner, signature: value };
}
