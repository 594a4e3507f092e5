/** Durations and sizes as people write them in config files ("30s", "32MB"). */

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "30s", "1.5m", "2h", "1d", "1m30s" → milliseconds; null when unparseable. */
export function parseDuration(text: string): number | null {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  let total = 0;
  let rest = trimmed;
  const part = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)/;
  while (rest !== '') {
    const match = part.exec(rest);
    if (match === null) return null;
    total += Number(match[1]) * (durationUnits[match[2] as string] as number);
    rest = rest.slice(match[0].length);
  }
  return Math.round(total);
}

const sizeUnits: Record<string, number> = { b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };

/** "512", "64KB", "32MB", "1GiB" → bytes (binary multiples, as nginx does); null when unparseable. */
export function parseSize(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (match === null) return null;
  const unit = (match[2] as string).toLowerCase();
  const factor = unit === '' ? 1 : sizeUnits[unit];
  return factor === undefined ? null : Math.floor(Number(match[1]) * factor);
}

export function formatDuration(ms: number): string {
  if (ms % 1000 !== 0) return `${ms}ms`;
  const s = ms / 1000;
  if (s % 3600 === 0 && s > 0) return `${s / 3600}h`;
  if (s % 60 === 0 && s > 0) return `${s / 60}m`;
  return `${s}s`;
}

/** The inverse of parseSize for display (docs, `status`): the largest binary unit that divides evenly. */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [['GB', 1024 ** 3], ['MB', 1024 ** 2], ['KB', 1024]] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}`;
}
