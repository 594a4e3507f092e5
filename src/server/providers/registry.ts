/**
 * The provider types, one descriptor each. Typed by the type union: a type added to the schema's
 * enum without a descriptor here is a compile error, and so is a descriptor missing a member.
 */
import type { ProviderType } from '../../shared/config/schema.ts';
import type { DescribedConfig, ProviderDescriptor } from './descriptor.ts';
import { anthropic } from './types/anthropic.ts';
import { gemini } from './types/gemini.ts';
import { mock } from './types/mock.ts';
import { openaiCompatible } from './types/openai-compatible.ts';
import { openai } from './types/openai.ts';

export const providerDescriptors = {
  openai,
  anthropic,
  gemini,
  'openai-compatible': openaiCompatible,
  mock,
} as const satisfies Record<ProviderType, ProviderDescriptor>;

export function descriptorOf(type: ProviderType): ProviderDescriptor {
  return providerDescriptors[type];
}

/** The provider's base URL without a trailing slash: its own, else its type's default. */
export function baseUrlOf(provider: DescribedConfig): string {
  const base = provider.baseUrl ?? descriptorOf(provider.type).defaultBaseUrl;
  if (base === null) throw new Error(`provider ${provider.name} has no base-url`);
  return base.endsWith('/') ? base.slice(0, -1) : base;
}
