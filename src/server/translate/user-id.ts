/**
 * OpenAI's `user` (and `safety_identifier`) takes at most 64 characters; Claude Code's
 * `metadata.user_id` is a JSON object of device, account and session ids, about 150. A longer id
 * is sent as its SHA-256 (64 hex digits): still one stable id per end user, as OpenAI asks, and
 * the client's device and session ids do not leave for another provider.
 */
import { createHash } from 'node:crypto';

const OPENAI_USER_MAX = 64;

export function openaiUser(user: string): string {
  return user.length <= OPENAI_USER_MAX ? user : createHash('sha256').update(user).digest('hex');
}
