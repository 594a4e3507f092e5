/**
 * The clock budgets read "now" from: Date.now in service. Test-only (docs/operations.md, "Test
 * hooks"): when AI_PROXY_TEST_BUDGET_CLOCK names a file, the file holds an ISO 8601 instant,
 * and budgets take that instant as the present at the moment the file is read, time running on
 * from there. The gateway reads it at start and at every reload, changed config or not, so a
 * fleet test moves every instance past a period's end with one write and `ai-proxy reload`
 * each: a period cannot be waited out in a test, and a config key would ship to every user.
 *
 * Only the budgets' periods move; the ledger's rows keep real times.
 */
import { readFileSync, statSync } from 'node:fs';

const HOOK = 'AI_PROXY_TEST_BUDGET_CLOCK';
let offsetMs = 0;

export function budgetNow(): number {
  return Date.now() + offsetMs;
}

/** Throws, naming the variable, when the file is not a regular file holding an instant. */
export function readBudgetClock(env: NodeJS.ProcessEnv = process.env): void {
  const path = env[HOOK];
  if (path === undefined || path === '') return;
  // A regular file only: opening a FIFO would block this process.
  if (!statSync(path).isFile()) throw new Error(`${HOOK}: ${path} is not a regular file`);
  const text = readFileSync(path, 'utf8').trim();
  const at = Date.parse(text);
  if (!Number.isFinite(at)) throw new Error(`${HOOK}: ${path} holds '${text.slice(0, 40)}', not an ISO 8601 instant`);
  offsetMs = at - Date.now();
}
