/**
 * Media of HTTP requests (docs/SERVE.md "Media"): `data:` URLs and base64 strings are decoded
 * here, `http(s)` URLs are fetched only when the server allows remote media (with a size and a
 * time limit), and each item becomes what the library takes: the bytes of an image, the path of
 * a private temporary video file (the library reads videos from files), a sound decoded to PCM.
 * Durations are checked here (videos probed, sounds decoded); pixels by the library's
 * `limitInputPixels`.
 */
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { decodeAudio, type RawAudio } from '../media/audio';
import { probeVideo } from '../media/video';
import type { MediaKind } from '../prompt';
import { HttpError, badRequest, toHttpError } from './errors';

/** Where a media item was given, and how: a URL (`data:`/`http(s):`) or base64 with a format. */
export type MediaRef = { kind: MediaKind; param: string } & ({ url: string } | { base64: string; format: 'wav' | 'mp3' });

/** The limits and tools media are resolved with. */
export interface MediaSettings {
  allowRemoteMedia: boolean;
  remoteMediaMaxBytes: number;
  remoteMediaTimeoutMs: number;
  limitInputPixels: number;
  maxAudioSeconds: number;
  maxVideoSeconds: number;
  ffmpegPath?: string;
  ffprobePath?: string;
}

/** Media ready for the library, and the temporary files to remove after the call. */
export interface ResolvedMedia {
  image?: Uint8Array;
  video?: string;
  audio?: RawAudio;
  /** Removes the temporary files (safe to call more than once). */
  cleanup(): Promise<void>;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Strict base64 (standard alphabet, padded): anything else is a 400, not silently skipped bytes. */
export function decodeBase64(text: string, param: string): Buffer {
  if (text.length % 4 !== 0 || !BASE64.test(text)) throw badRequest(`${param} is not valid base64`, param, 'invalid_base64');
  const buf = Buffer.from(text, 'base64');
  if (buf.length === 0) throw badRequest(`${param} is empty`, param, 'empty_media');
  return buf;
}

/** The bytes of a `data:` URL; its media type must be of `kind` (or absent, or application/octet-stream). */
function dataUrl(url: string, kind: MediaKind, param: string): Buffer {
  const comma = url.indexOf(',');
  if (comma < 0) throw badRequest(`${param} is a data: URL without a comma`, param, 'invalid_data_url');
  const meta = url.slice(5, comma).split(';');
  const type = meta[0].trim().toLowerCase();
  const family = kind === 'audio' ? 'audio/' : `${kind}/`;
  if (type !== '' && type !== 'application/octet-stream' && !type.startsWith(family)) {
    throw badRequest(`${param} is a data: URL of type ${type}, expected ${family}*`, param, 'invalid_media_type');
  }
  const body = url.slice(comma + 1);
  if (meta.slice(1).some((m) => m.trim().toLowerCase() === 'base64')) return decodeBase64(body, param);
  let buf: Buffer;
  try {
    buf = Buffer.from(decodeURIComponent(body), 'latin1');
  } catch {
    throw badRequest(`${param} is a data: URL with bad percent-encoding`, param, 'invalid_data_url');
  }
  if (buf.length === 0) throw badRequest(`${param} is empty`, param, 'empty_media');
  return buf;
}

/** Fetches an http(s) URL: at most `maxBytes`, within `timeoutMs` (connect to last byte). */
async function fetchRemote(url: URL, param: string, s: MediaSettings, signal: AbortSignal): Promise<Buffer> {
  const failed = (why: string, cause?: unknown) =>
    new HttpError(400, `Could not fetch ${param} (${url.href}): ${why}`, { param, code: 'media_fetch_failed', cause });
  const timeout = AbortSignal.timeout(s.remoteMediaTimeoutMs);
  const both = AbortSignal.any([signal, timeout]);
  try {
    const res = await fetch(url, { signal: both, redirect: 'follow' });
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw failed(`HTTP ${res.status}`);
    }
    const declared = Number(res.headers.get('content-length'));
    if (Number.isFinite(declared) && declared > s.remoteMediaMaxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw failed(`${declared} bytes, above the limit of ${s.remoteMediaMaxBytes}`);
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.length;
        if (total > s.remoteMediaMaxBytes) {
          await reader.cancel().catch(() => undefined);
          throw failed(`more than the limit of ${s.remoteMediaMaxBytes} bytes`);
        }
        chunks.push(value);
      }
    }
    if (total === 0) throw failed('empty body');
    return Buffer.concat(chunks);
  } catch (err) {
    if (err instanceof HttpError) throw err;
    if (signal.aborted) throw signal.reason;
    if (timeout.aborted) throw failed(`no complete answer within ${s.remoteMediaTimeoutMs} ms`, err);
    throw failed(err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err), err);
  }
}

/** The bytes of a media item given by URL or base64. */
export async function mediaBytes(ref: MediaRef, s: MediaSettings, signal: AbortSignal): Promise<Buffer> {
  if ('base64' in ref) {
    // input_audio.data: base64 (a data: URL is taken too)
    return ref.base64.startsWith('data:') ? dataUrl(ref.base64, 'audio', ref.param) : decodeBase64(ref.base64, ref.param);
  }
  const { url, param, kind } = ref;
  if (url.startsWith('data:')) return dataUrl(url, kind, param);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw badRequest(`${param} must be a data: URL${s.allowRemoteMedia ? ' or an http(s) URL' : ''}`, param, 'invalid_url');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw badRequest(`${param} must be a data: URL${s.allowRemoteMedia ? ' or an http(s) URL' : ''} (got ${parsed.protocol})`, param, 'invalid_url');
  }
  if (!s.allowRemoteMedia) {
    throw badRequest(
      `${param}: http(s) media URLs are disabled on this server (start it with --allow-remote-media); send a data: URL`,
      param,
      'remote_media_disabled',
    );
  }
  return fetchRemote(parsed, param, s, signal);
}

/** What the bytes of a WAV or MP3 file begin with (input_audio.format is checked against it). */
function looksLike(format: 'wav' | 'mp3', b: Buffer): boolean {
  if (format === 'wav') return b.length >= 12 && ['RIFF', 'RF64'].includes(b.toString('latin1', 0, 4)) && b.toString('latin1', 8, 12) === 'WAVE';
  return b.length >= 3 && (b.toString('latin1', 0, 3) === 'ID3' || (b[0] === 0xff && (b[1] & 0xe0) === 0xe0));
}

/**
 * Fetches and decodes the media of a request (outside the model's slots): images stay encoded
 * (the library decodes them under `limitInputPixels`), a video goes to a temporary file and is
 * probed for its duration, a sound is decoded to PCM under `maxAudioSeconds`.
 */
export async function resolveMedia(refs: readonly MediaRef[], s: MediaSettings, signal: AbortSignal): Promise<ResolvedMedia> {
  let dir: string | undefined;
  const out: ResolvedMedia = {
    cleanup: async () => {
      const d = dir;
      dir = undefined;
      if (d) await fs.promises.rm(d, { recursive: true, force: true }).catch(() => undefined);
    },
  };
  const ffmpeg = { ...(s.ffmpegPath ? { ffmpegPath: s.ffmpegPath } : {}), ...(s.ffprobePath ? { ffprobePath: s.ffprobePath } : {}) };
  try {
    for (const ref of refs) {
      const bytes = await mediaBytes(ref, s, signal);
      try {
        if (ref.kind === 'image') out.image = bytes;
        else if (ref.kind === 'audio') {
          if ('format' in ref && !looksLike(ref.format, bytes)) {
            throw badRequest(
              `${ref.param} is not ${ref.format === 'wav' ? 'a WAV' : 'an MP3'} file (input_audio.format is ${ref.format})`,
              ref.param,
              'invalid_audio',
            );
          }
          const a = await decodeAudio(bytes, { ...ffmpeg, signal, maxDuration: s.maxAudioSeconds });
          out.audio = { samples: a.channels, sampleRate: a.sampleRate };
        } else {
          dir ??= await fs.promises.mkdtemp(nodePath.join(os.tmpdir(), 'groundinggpt-serve-'));
          const file = nodePath.join(dir, 'video');
          await fs.promises.writeFile(file, bytes, { mode: 0o600 });
          const info = await probeVideo(file, { ...ffmpeg, signal, limitInputPixels: s.limitInputPixels });
          if (info.duration > s.maxVideoSeconds) {
            throw badRequest(`${ref.param} lasts ${info.duration.toFixed(1)} s, above the limit of ${s.maxVideoSeconds} s`, ref.param, 'media_too_long');
          }
          out.video = file;
        }
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        throw toHttpError(err, ref.param);
      }
    }
    return out;
  } catch (err) {
    await out.cleanup();
    throw err;
  }
}
