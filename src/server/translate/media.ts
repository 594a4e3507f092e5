/**
 * Images and documents move between three spellings: data URLs (OpenAI), base64 + media type
 * (Anthropic, Gemini inlineData) and plain URLs (everyone but chat documents).
 */
import type { MediaSource } from './canonical.ts';

/** `data:<type>;base64,<data>` → base64 source; any other URL → url source. */
export function sourceFromUrl(url: string, mediaType?: string): MediaSource {
  if (url.startsWith('data:')) {
    const comma = url.indexOf(',');
    const meta = url.slice(5, comma);
    if (comma > 0 && meta.endsWith(';base64')) {
      return { kind: 'base64', mediaType: meta.slice(0, -7) || mediaType || 'application/octet-stream', data: url.slice(comma + 1) };
    }
  }
  return mediaType === undefined ? { kind: 'url', url } : { kind: 'url', url, mediaType };
}

export function dataUrl(mediaType: string, data: string): string {
  return `data:${mediaType};base64,${data}`;
}

const EXTENSION_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
  pdf: 'application/pdf',
  txt: 'text/plain',
  md: 'text/markdown',
  html: 'text/html',
  csv: 'text/csv',
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  mp4: 'video/mp4',
};

/** Gemini's fileData needs a MIME type and URLs rarely say one: guess it from the extension. */
export function mediaTypeFromUrl(url: string): string | undefined {
  let path = url;
  try {
    path = new URL(url).pathname;
  } catch {
    // Not absolute (e.g. a Gemini Files API name): use it as it is.
  }
  const dot = path.lastIndexOf('.');
  if (dot < 0) return undefined;
  return EXTENSION_TYPES[path.slice(dot + 1).toLowerCase()];
}

/** The image types Anthropic's Messages API accepts. */
export const ANTHROPIC_IMAGE_TYPES: ReadonlySet<string> = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);
