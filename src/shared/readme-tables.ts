/**
 * The README's signal and exit-code tables, rendered from the same facts the code uses
 * (signals.ts, exit-codes.ts), so documentation and behaviour cannot drift apart.
 */
import { exitCodeTable } from './exit-codes.ts';
import { signalTable } from './signals.ts';

const sections: Record<string, () => string> = {
  signals: () =>
    [
      '### Signals',
      '',
      "Send them to the launcher (the PID in the PID file, systemd's main PID).",
      '',
      '| signal | meaning |',
      '|---|---|',
      ...signalTable.map((row) => `| ${row.signal} | ${row.meaning} |`),
    ].join('\n'),
  'exit-codes': () => ['### Exit codes', '', '| code | meaning |', '|---|---|', ...exitCodeTable.map((row) => `| ${row.code} | ${row.meaning} |`)].join('\n'),
};

/** Replaces each `<!-- generated:NAME:start -->…<!-- generated:NAME:end -->` block with its fresh rendering. */
export function renderReadme(text: string): string {
  let out = text;
  for (const [name, render] of Object.entries(sections)) {
    const start = `<!-- generated:${name}:start -->`;
    const end = `<!-- generated:${name}:end -->`;
    const from = out.indexOf(start);
    const to = out.indexOf(end);
    if (from === -1 || to === -1) throw new Error(`README.md lacks the ${name} markers`);
    out = `${out.slice(0, from + start.length)}\n${render()}\n${out.slice(to)}`;
  }
  return out;
}
