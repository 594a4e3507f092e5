/**
 * Model-id globs. Model ids are not paths: `*` must match across `/` so that `*` or `deepseek-*`
 * covers ids like `meta-llama/llama-3-70b` (OpenRouter, vLLM, Hugging Face names). picomatch's
 * `bash` mode treats a single star as a globstar, which is exactly that.
 */
import picomatch from 'picomatch';

export type ModelMatcher = (modelId: string) => boolean;

const options: picomatch.PicomatchOptions = { bash: true, dot: true };

/** True when the pattern contains glob syntax; `claude-3-5@20240620` (a bare `@`) does not. */
export function isGlob(pattern: string): boolean {
  return picomatch.scan(pattern).isGlob;
}

export function compileGlob(pattern: string): ModelMatcher {
  return picomatch(pattern, options);
}

/** One matcher for several globs; null when the list is empty (the caller's "no restriction"). */
export function compileGlobs(patterns: readonly string[]): ModelMatcher | null {
  if (patterns.length === 0) return null;
  if (patterns.length === 1) return compileGlob(patterns[0] as string);
  return picomatch(patterns as string[], options);
}

/**
 * The characters before the first glob syntax: `gpt-4o*` → `gpt-4o`. The length ranks globs when
 * several providers match the same id: a longer literal prefix is the more specific rule.
 */
export function literalPrefix(pattern: string): string {
  if (pattern.startsWith('!')) return ''; // a negation matches everything else: no literal prefix
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' || c === '?' || c === '[' || c === '{' || c === '(' || c === '\\') return pattern.slice(0, i);
    if ((c === '!' || c === '+' || c === '@') && pattern[i + 1] === '(') return pattern.slice(0, i);
  }
  return pattern;
}
