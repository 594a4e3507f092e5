/**
 * OpenAI asks for reasoning by effort; Anthropic and Gemini by a token budget. One table maps
 * between them so a round trip lands on the same level. The budgets follow Gemini 2.5's own
 * effort equivalents (low 1024, medium 8192, high 24576) and respect Anthropic's 1024 minimum.
 */
import type { ReasoningConfig, ReasoningEffort } from './canonical.ts';

const BUDGETS: Record<ReasoningEffort, number> = {
  none: 0,
  minimal: 1024,
  low: 2048,
  medium: 8192,
  high: 24576,
  xhigh: 32768,
};

export function budgetFor(reasoning: ReasoningConfig): number {
  if (reasoning.budgetTokens !== undefined) return reasoning.budgetTokens;
  return BUDGETS[reasoning.effort ?? 'medium'];
}

/** The smallest effort whose budget covers `budget`. */
export function effortFor(reasoning: ReasoningConfig): ReasoningEffort {
  if (reasoning.effort !== undefined) return reasoning.effort;
  const budget = reasoning.budgetTokens;
  if (budget === undefined || budget < 0) return 'medium';
  if (budget === 0) return 'none';
  if (budget <= BUDGETS.minimal) return 'minimal';
  if (budget <= BUDGETS.low) return 'low';
  if (budget <= BUDGETS.medium) return 'medium';
  return 'high';
}

const EFFORTS: ReadonlySet<string> = new Set(Object.keys(BUDGETS));

export function parseEffort(value: unknown): ReasoningEffort | undefined {
  return typeof value === 'string' && EFFORTS.has(value) ? (value as ReasoningEffort) : undefined;
}
