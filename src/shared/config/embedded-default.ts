/**
 * The config used when there is no config file: loopback only, the built-in mock provider, and
 * each real provider whose standard key variable is set. It is YAML text run through the same
 * loader as a file, so the keys arrive by `${VAR}` interpolation and the result is validated
 * (and overridden by flags and AI_PROXY_* variables) exactly like a file.
 */

export const EMBEDDED_DEFAULT_LABEL = '<embedded default>';

interface StandardProvider {
  variable: string;
  name: string;
  type: string;
  models: string[];
}

/** In routing order: OpenAI claims text-embedding-* before Gemini does. */
export const standardProviders: readonly StandardProvider[] = [
  { variable: 'OPENAI_API_KEY', name: 'openai', type: 'openai', models: ['gpt-*', 'o1*', 'o3*', 'o4*', 'chatgpt-*', 'text-embedding-*'] },
  { variable: 'ANTHROPIC_API_KEY', name: 'anthropic', type: 'anthropic', models: ['claude-*'] },
  { variable: 'GEMINI_API_KEY', name: 'gemini', type: 'gemini', models: ['gemini-*', 'text-embedding-*', 'embedding-*'] },
];

export function embeddedDefaultYaml(env: NodeJS.ProcessEnv): string {
  const lines = [
    // listen is left to the schema's default (127.0.0.1:8317): a default is written once.
    '# ai-proxy embedded default: used when no config file exists.',
    'providers:',
    '  - name: mock',
    '    type: mock',
    '    models: ["mock", "mock-*"]',
  ];
  for (const provider of standardProviders) {
    const value = env[provider.variable];
    if (value === undefined || value === '') continue;
    lines.push(
      `  - name: ${provider.name}`,
      `    type: ${provider.type}`,
      `    api-keys: ["\${${provider.variable}}"]`,
      `    models: [${provider.models.map((m) => JSON.stringify(m)).join(', ')}]`,
    );
  }
  return `${lines.join('\n')}\n`;
}
