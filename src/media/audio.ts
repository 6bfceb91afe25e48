/**
 * Audio decoding for the audio path (docs/COMPUTATION.md §4.1): a file (path or encoded bytes) -> float PCM at
 * the NATIVE sample rate with every channel kept. No resampling here: the core resamples to
 * 16 kHz with torchaudio's algorithm.
 *
 * ffmpeg writes 32-bit float WAV to a pipe (`-c:a pcm_f32le -f wav`, no `-ar`, no `-ac`): its
 * sample-format conversion is exact for integer PCM (int16 -> v / 32768, what torchaudio's loader
 * gives), and the rate and channel count are read from the WAV header it writes, so decoding needs
 * no probe. With ffprobe, the file is probed first (audio stream, stated duration, codec,
 * container); without it (ffmpeg-static ships none) the same facts come from the description of
 * the input ffmpeg prints while it decodes (src/media/probe.ts: parseInputDump).
 *
 * Limits (InvalidInputError outside them): sample rate an integer in 1000..768000 Hz, 1..8 channels, at least one
 * sample, every sample finite, at most `maxDuration` seconds (default 3600; all of the signal is
 * held in memory: upstream's clip sampler and mean subtraction need the whole signal).
 */
import fs from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { AbortError, InvalidInputError } from '../errors';
import { invalid, isPlainObject, optionalSignal, optionsObject } from '../util/validate';
import { resolveFFmpeg, runProcess, splitTaggedLog, stderrTail, TAGGED_LOG_ARGS, type FFmpegOptions } from './ffmpeg';
import { cannotRead, checkMediaFile, parseInputDump, probeMedia, type ProbedMedia } from './probe';

export const MIN_SAMPLE_RATE = 1000;
export const MAX_SAMPLE_RATE = 768000;
export const MAX_CHANNELS = 8;
/** Default longest accepted input, seconds. */
export const DEFAULT_MAX_AUDIO_DURATION = 3600;

/** Already decoded PCM: one Float32Array (mono) or one per channel, samples nominally in [-1, 1]. */
export interface RawAudio {
  samples: Float32Array | Float32Array[];
  /** Hz, an integer in 1000..768000. */
  sampleRate: number;
}

/** A file path, the bytes of an encoded file (WAV, MP3, FLAC, OGG, M4A...), or raw PCM. */
export type AudioInput = string | Uint8Array | RawAudio;

/** Options of {@link decodeAudio}. */
export interface DecodeAudioOptions extends FFmpegOptions {
  signal?: AbortSignal;
  /** Longest accepted input in seconds (default 3600). */
  maxDuration?: number;
}

/** Decoded PCM at the native rate. */
export interface DecodedAudio {
  /** One Float32Array per channel, all the same length. */
  channels: Float32Array[];
  /** Hz. */
  sampleRate: number;
  /** Seconds = samples / sampleRate. */
  duration: number;
  /** Where it came from. */
  source: {
    kind: 'path' | 'buffer' | 'raw';
    path?: string;
    codec?: string;
    format?: string;
    /** Files: what probed them, ffprobe or (no ffprobe found) ffmpeg alone. */
    prober?: ProbedMedia['prober'];
  };
}

function checkRate(rate: unknown, name: string): number {
  if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < MIN_SAMPLE_RATE || rate > MAX_SAMPLE_RATE) {
    throw invalid(`a sample rate between ${MIN_SAMPLE_RATE} and ${MAX_SAMPLE_RATE} Hz`, name, rate);
  }
  return rate;
}

function checkFinite(channels: Float32Array[], what: string): void {
  for (let c = 0; c < channels.length; c++) {
    const ch = channels[c];
    for (let i = 0; i < ch.length; i++) {
      if (!Number.isFinite(ch[i])) {
        throw new InvalidInputError(`${what} has a non-finite sample (${ch[i]}) in channel ${c} at sample ${i}`);
      }
    }
  }
}

function checkRaw(v: Record<string, unknown>, maxDuration: number): DecodedAudio {
  const sampleRate = checkRate(v.sampleRate, 'audio.sampleRate');
  let chans: Float32Array[];
  if (v.samples instanceof Float32Array) chans = [v.samples];
  else if (Array.isArray(v.samples) && v.samples.length > 0) {
    if (v.samples.length > MAX_CHANNELS) throw new InvalidInputError(`Raw audio has ${v.samples.length} channels; at most ${MAX_CHANNELS} are supported`);
    // an index loop, not map(): a sparse array's holes are reported, not skipped
    chans = [];
    for (let i = 0; i < v.samples.length; i++) {
      const c: unknown = v.samples[i];
      if (!(c instanceof Float32Array)) throw invalid('a Float32Array', `audio.samples[${i}]`, c);
      chans.push(c);
    }
  } else throw invalid('a Float32Array or a non-empty array of Float32Array (one per channel)', 'audio.samples', v.samples);
  if (chans.length > MAX_CHANNELS) throw new InvalidInputError(`Raw audio has ${chans.length} channels; at most ${MAX_CHANNELS} are supported`);
  const n = chans[0].length;
  chans.forEach((c, i) => {
    if (c.length !== n) throw new InvalidInputError(`Raw audio channels differ in length: channel 0 has ${n} samples, channel ${i} has ${c.length}`);
  });
  if (n === 0) throw new InvalidInputError('Raw audio has no samples');
  if (n / sampleRate > maxDuration) {
    throw new InvalidInputError(`Raw audio lasts ${(n / sampleRate).toFixed(1)} s, longer than maxDuration = ${maxDuration} s`);
  }
  checkFinite(chans, 'Raw audio');
  return { channels: chans, sampleRate, duration: n / sampleRate, source: { kind: 'raw' } };
}

/**
 * Walks the chunks of a RIFF/WAVE header up to `data`: where the payloads of `fmt ` and `data`
 * start, and their declared lengths. undefined when `buf` is not RIFF/WAVE; no `data` when `buf`
 * ends before it.
 */
function riffChunks(buf: Buffer): { fmt?: { at: number; len: number }; data?: { at: number; len: number } } | undefined {
  if (buf.length < 12 || buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE') return undefined;
  const out: ReturnType<typeof riffChunks> = {};
  for (let off = 12; off + 8 <= buf.length; ) {
    const id = buf.toString('latin1', off, off + 4);
    const len = buf.readUInt32LE(off + 4);
    if (id === 'fmt ') out.fmt = { at: off + 8, len };
    if (id === 'data') {
      out.data = { at: off + 8, len };
      break;
    }
    off += 8 + len + (len & 1);
  }
  return out;
}

/**
 * For a RIFF/WAVE file: bytes its `data` chunk declares beyond the end of the file (0 when it is
 * complete, not a WAV, or written for streaming with a placeholder size).
 */
async function wavMissingBytes(file: string): Promise<number> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(Math.min(size, 64 * 1024));
    await fh.read(head, 0, head.length, 0);
    const data = riffChunks(head)?.data;
    if (!data || data.len === 0 || data.len === 0xffffffff) return 0;
    return Math.max(0, data.at + data.len - size);
  } finally {
    await fh.close();
  }
}

/**
 * The header of the float WAV ffmpeg writes on its stdout: rate, channels and where the samples
 * start (the sizes are placeholders on a pipe: the samples run to the end of the stream).
 * undefined while more bytes are needed.
 */
function readWavHeader(head: Buffer, label: string): { channels: number; sampleRate: number; dataAt: number } | undefined {
  const bad = (why: string) => new InvalidInputError(`Cannot decode audio ${label}: ffmpeg wrote ${why}`);
  const chunks = riffChunks(head);
  if (!chunks) {
    if (head.length >= 12) throw bad('no WAV header');
    return undefined;
  }
  if (!chunks.data) {
    if (head.length > 64 * 1024) throw bad('a WAV header without samples');
    return undefined;
  }
  const f = chunks.fmt;
  if (!f || f.len < 16 || f.at + f.len > chunks.data.at) throw bad('a WAV header without a format');
  // WAVE_FORMAT_IEEE_FLOAT, or WAVE_FORMAT_EXTENSIBLE whose sub-format GUID starts with it
  const tag = head.readUInt16LE(f.at);
  const float = tag === 3 || (tag === 0xfffe && f.len >= 26 && head.readUInt16LE(f.at + 24) === 3);
  if (!float || head.readUInt16LE(f.at + 14) !== 32) throw bad('a WAV format other than 32-bit float');
  return { channels: head.readUInt16LE(f.at + 2), sampleRate: head.readUInt32LE(f.at + 4), dataAt: chunks.data.at };
}

/** Throws unless `probe` has an audio stream whose stated duration fits; returns that stream. */
function audioStream(probe: ProbedMedia, label: string, maxDuration: number) {
  const a = probe.streams.find((s) => s.type === 'audio');
  if (!a) {
    const video = probe.streams.some((s) => s.type === 'video' && !s.attachedPic);
    throw new InvalidInputError(`Not audio: ${label} has no audio stream${video ? ' (only a video or picture stream)' : ''}`);
  }
  const stated = a.duration ?? probe.duration;
  if (stated !== undefined && stated > maxDuration * 1.01 + 1) {
    throw new InvalidInputError(`Audio ${label} lasts ${stated.toFixed(1)} s, longer than maxDuration = ${maxDuration} s`);
  }
  return { codec: a.codec, stated };
}

async function decodeFile(
  file: string,
  kind: 'path' | 'buffer',
  label: string,
  o: Record<string, unknown>,
  signal: AbortSignal | undefined,
  maxDuration: number,
): Promise<DecodedAudio> {
  const missing = await wavMissingBytes(file);
  if (missing > 0) throw new InvalidInputError(`Audio ${label} is truncated: its WAV header declares ${missing} more bytes of samples than the file holds`);
  const ff = resolveFFmpeg(o as FFmpegOptions);
  // With ffprobe the file is looked at before decoding; without, ffmpeg describes it on stderr.
  let probe = ff.ffprobe === undefined ? undefined : await probeMedia(file, 'Audio', { ...(o as FFmpegOptions), signal, countPackets: false });
  if (probe) audioStream(probe, label, maxDuration);

  let head: Buffer | undefined = Buffer.alloc(0);
  let header: ReturnType<typeof readWavHeader>;
  let maxBytes = Infinity;
  const chunks: Buffer[] = [];
  let bytes = 0;
  const res = await runProcess(
    ff.ffmpeg,
    [
      '-hide_banner',
      '-nostdin',
      ...TAGGED_LOG_ARGS,
      '-i',
      file,
      '-map',
      '0:a:0',
      '-vn',
      '-sn',
      '-dn',
      '-map_metadata',
      '-1',
      '-fflags',
      '+bitexact',
      '-c:a',
      'pcm_f32le',
      '-f',
      'wav',
      'pipe:1',
    ],
    {
      signal,
      onStdout: (chunk) => {
        if (head) {
          head = Buffer.concat([head, chunk]);
          header = readWavHeader(head, label);
          if (!header) return;
          const { channels, sampleRate } = header;
          if (channels < 1) throw new InvalidInputError(`Cannot decode ${label}: its audio stream has no channels`);
          if (channels > MAX_CHANNELS) throw new InvalidInputError(`Audio ${label} has ${channels} channels; at most ${MAX_CHANNELS} are supported`);
          if (sampleRate < MIN_SAMPLE_RATE || sampleRate > MAX_SAMPLE_RATE) {
            throw new InvalidInputError(`Audio ${label} has a sample rate of ${sampleRate} Hz, outside ${MIN_SAMPLE_RATE}..${MAX_SAMPLE_RATE} Hz`);
          }
          maxBytes = Math.ceil(maxDuration * sampleRate + 1) * channels * 4;
          chunk = head.subarray(header.dataAt);
          head = undefined;
        }
        bytes += chunk.length;
        if (bytes > maxBytes) return false;
        chunks.push(chunk);
      },
    },
  );
  if (signal?.aborted) throw new AbortError();
  const log = splitTaggedLog(res.stderr);
  if (!probe) {
    probe = parseInputDump(log.info, file);
    if (!probe) throw cannotRead(file, 'Audio', log.errors, res.code, 'ffmpeg');
  }
  const { codec, stated } = audioStream(probe, label, maxDuration);
  if (res.stopped) throw new InvalidInputError(`Audio ${label} is longer than maxDuration = ${maxDuration} s`);
  if (res.code !== 0 || !header) {
    throw new InvalidInputError(`Cannot decode audio ${label}: ${stderrTail(log.errors) || `ffmpeg exited with code ${res.code}`}`);
  }
  // ffmpeg goes on after a bad packet (exit code 0); such error lines mean damaged data.
  if (/Error while decoding|Invalid data found|Invalid PCM packet|corrupt/i.test(log.errors)) {
    throw new InvalidInputError(`Cannot decode audio ${label}: the file is corrupt or truncated (${stderrTail(log.errors, 2)})`);
  }
  const { channels, sampleRate } = header;
  const frameBytes = 4 * channels;
  if (bytes % frameBytes !== 0) {
    throw new InvalidInputError(`Cannot decode audio ${label}: ffmpeg returned ${bytes} bytes, not whole frames of ${channels} channels`);
  }
  const n = bytes / frameBytes;
  if (n === 0) throw new InvalidInputError(`Audio ${label} has no samples`);
  // A file that decodes to much less than its header states was cut off. Only for formats whose
  // stated duration is exact (not estimated from a bitrate).
  const fmt = probe.format ?? '';
  if (stated !== undefined && /^(wav|w64|aiff|caf|flac|mp3)$|^mov,/.test(fmt) && n / sampleRate < 0.9 * stated - 0.1) {
    throw new InvalidInputError(
      `Audio ${label} is truncated: its header states ${stated.toFixed(3)} s but only ${(n / sampleRate).toFixed(3)} s could be decoded`,
    );
  }
  // Interleaved little-endian f32 (every platform Node runs on is little-endian) -> planar.
  const inter = new Float32Array(n * channels);
  const interBytes = new Uint8Array(inter.buffer);
  let at = 0;
  for (const c of chunks) {
    interBytes.set(c, at);
    at += c.length;
  }
  chunks.length = 0;
  const out: Float32Array[] = [];
  for (let c = 0; c < channels; c++) {
    const ch = new Float32Array(n);
    for (let i = 0, j = c; i < n; i++, j += channels) ch[i] = inter[j];
    out.push(ch);
  }
  checkFinite(out, `Audio ${label}`);
  return {
    channels: out,
    sampleRate,
    duration: n / sampleRate,
    source: { kind, path: kind === 'path' ? file : undefined, codec, format: probe.format, prober: probe.prober },
  };
}

/**
 * Decodes audio to float PCM at its native rate, all channels.
 *
 * @param input  path, Buffer/Uint8Array of an encoded file (written to a private temporary file,
 *               removed afterwards: containers such as MP4 need seeking, which a pipe cannot do),
 *               or raw `{ samples, sampleRate }` (validated, not copied).
 * @throws InvalidInputError (not audio, truncated/corrupt, no samples, NaN/Inf, rate or channel
 *   count outside the limits, a video without sound), FFmpegNotFoundError, AbortError. No ffmpeg
 *   child is left running in any case.
 */
export async function decodeAudio(input: AudioInput, opts?: DecodeAudioOptions): Promise<DecodedAudio> {
  const o = optionsObject(opts);
  const signal = optionalSignal(o.signal);
  const maxDuration = o.maxDuration === undefined ? DEFAULT_MAX_AUDIO_DURATION : o.maxDuration;
  if (typeof maxDuration !== 'number' || !Number.isFinite(maxDuration) || maxDuration <= 0)
    throw invalid('a positive number of seconds', 'maxDuration', maxDuration);
  if (signal?.aborted) throw new AbortError();

  if (typeof input === 'string') {
    checkMediaFile(input, 'audio', 'Audio');
    return decodeFile(input, 'path', `file ${input}`, o, signal, maxDuration);
  }
  if (input instanceof Uint8Array) {
    if (input.length === 0) throw new InvalidInputError('Audio buffer is empty (0 bytes)');
    const dir = await fs.promises.mkdtemp(nodePath.join(os.tmpdir(), 'groundinggpt-audio-'));
    const file = nodePath.join(dir, 'input');
    try {
      await fs.promises.writeFile(file, input);
      return await decodeFile(file, 'buffer', 'buffer', o, signal, maxDuration);
    } finally {
      await fs.promises.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }
  if (isPlainObject(input) && 'samples' in input) return checkRaw(input, maxDuration);
  throw invalid('a file path, Buffer/Uint8Array or { samples, sampleRate }', 'audio', input);
}
