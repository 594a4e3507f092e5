/**
 * The answer to a key past its budget: 429 in the client's own format, with when the budget
 * resets (Retry-After, and the instant in the message and `x-ai-proxy-budget-reset`). OpenAI's
 * own word for a spent quota is the code `insufficient_quota`; the other formats have only their
 * rate-limit type. A fail-closed budget whose spend is unknown gets 503: retrying soon may work.
 */
import type { ServerResponse } from 'node:http';
import type { ClientFormat } from '../errors/client-error.ts';
import { sendError } from '../http/respond.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { BudgetDecision } from './budget.ts';

const UNKNOWN_RETRY_SECONDS = 5;

export function refuseOverBudget(res: ServerResponse, format: ClientFormat, client: string, decision: Exclude<BudgetDecision, { allowed: true }>, now: number, metrics: Metrics): void {
  metrics.budgetRefusals.inc({ client });
  if (decision.reason === 'unknown') {
    return sendError(res, format, 503, `The spend of key '${client}' cannot be checked against its budget right now (fail-closed); retry shortly.`, { kind: 'overloaded', retryAfterSeconds: UNKNOWN_RETRY_SECONDS });
  }
  const resets = new Date(decision.resetsAt).toISOString();
  const retryAfterSeconds = Math.max(1, Math.ceil((decision.resetsAt - now) / 1000));
  return sendError(res, format, 429, `The key '${client}' has spent its budget of $${decision.budget.usd} per ${decision.budget.period} ($${decision.spent.toFixed(4)} so far); it resets at ${resets}.`, {
    code: 'insufficient_quota',
    retryAfterSeconds,
    headers: { 'x-ai-proxy-budget-reset': resets },
  });
}
