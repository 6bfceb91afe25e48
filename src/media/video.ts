/**
 * Video decoding for the video path (docs/COMPUTATION.md §3.1-3.2): probe, frame sampling, and one ffmpeg process
 * per video that streams only the sampled frames, scaled to 224x224 rgb24.
 *
 * Decisions (documented for users):
 * - vlen = packets of the video stream counted by demuxing the whole file (ffprobe
 *   -count_packets, or without ffprobe an ffmpeg stream copy: src/media/probe.ts), as decord
 *   does; falls back to the container's nb_frames, then to round(duration x fps) when the
 *   demuxer reports no count.
 * - Frames are selected by decoded frame number (`select=eq(n,i)+...`), so frame i is the i-th
 *   frame in presentation order, as decord's `get_batch` indexes them.
 * - `scale=224:224:flags=bilinear`, rgb24, no crop, aspect ratio not kept (docs/COMPUTATION.md §3.2). The
 *   rotation stored in the container is applied (ffmpeg's default; decord ignores it), like the
 *   EXIF decision for images.
 * - Timing: duration = the video stream's duration > the container's > vlen / fps; fps =
 *   avg_frame_rate > r_frame_rate > vlen / duration; when neither exists, 25 fps is assumed and
 *   `timing` says 'assumed'.
 * - A single-frame video (or a still image ffmpeg reads as one) is valid: n = 1.
 */
import { AbortError, InvalidInputError } from '../errors';
import { CallbackGuard, anySignal, invalid, isPlainObject, optionalFunction, optionalSignal, optionsObject } from '../util/validate';
import { resolveFFmpegOnly, runProcess, stderrTail, type FFmpegOptions } from './ffmpeg';
import { checkRawImage, DEFAULT_LIMIT_INPUT_PIXELS, toRgb8, type RawImage } from './image';
import { checkMediaFile, probeMedia, type ProbedMedia, type ProbedStream } from './probe';
import sharp from 'sharp';

/** Frames sampled per video at most (config `max_frame`). */
export const DEFAULT_MAX_FRAMES = 64;
/** Side of the frames given to the EVA tower. */
export const DEFAULT_FRAME_SIZE = 224;
/** fps assumed when a video states neither a frame rate nor a duration. */
export const FALLBACK_FPS = 25;
/** Most raw frames accepted in one video (a day at 11.6 fps); each is validated. */
export const MAX_RAW_FRAMES = 1_000_000;
/** Largest raw `fps` accepted. */
export const MAX_RAW_FPS = 10_000;
/** Largest raw `duration` accepted, seconds (about 115 days). */
export const MAX_RAW_DURATION = 10_000_000;

/**
 * Upstream `load_video` frame indices: `np.arange(0, vlen, vlen / n).astype(int)` with
 * n = min(maxFrames, vlen), in IEEE double exactly as numpy computes it: length
 * ceil(vlen / step) and values trunc(i * step) with step = vlen / n. The length equals n for every
 * vlen checked (1..100,000 with maxFrames 1, 8, 64, 100: identical to numpy 2.4), but it is
 * computed the numpy way rather than assumed, and an index that would reach vlen is clamped.
 */
export function sampleIndices(vlen: number, maxFrames = DEFAULT_MAX_FRAMES): number[] {
  if (!Number.isSafeInteger(vlen) || vlen < 1) throw invalid('a positive integer', 'vlen', vlen);
  if (!Number.isSafeInteger(maxFrames) || maxFrames < 1) throw invalid('a positive integer', 'maxFrames', maxFrames);
  const n = Math.min(maxFrames, vlen);
  const step = vlen / n;
  const len = Math.ceil(vlen / step);
  const out: number[] = new Array(len);
  for (let i = 0; i < len; i++) out[i] = Math.min(Math.trunc(i * step), vlen - 1);
  return out;
}

/** Facts about a video file. */
export interface VideoInfo {
  path: string;
  /** Index of the video stream used. */
  stream: number;
  codec?: string;
  /** Size of the stream as stored (before rotation). */
  width: number;
  height: number;
  /** Number of frames (vlen): packets counted by demuxing, see the module notes. */
  frameCount: number;
  /** Where frameCount came from. */
  frameCountSource: 'packets' | 'nb_frames' | 'duration';
  /** Frames per second (avg_frame_rate). */
  fps: number;
  /** Seconds. */
  duration: number;
  /** 'container' when fps and duration were both stated, 'derived' when one was computed from the
   * other and vlen, 'assumed' when FALLBACK_FPS was used. */
  timing: 'container' | 'derived' | 'assumed';
  /** Whether the file also has an audio stream. */
  hasAudio: boolean;
  /** What probed the file: ffprobe, or ffmpeg alone when no ffprobe was found (fps then to 0.01). */
  prober: 'ffprobe' | 'ffmpeg';
}

/** Options of {@link probeVideo}. */
export interface ProbeVideoOptions extends FFmpegOptions {
  signal?: AbortSignal;
  /** Largest accepted width x height of a frame; default DEFAULT_LIMIT_INPUT_PIXELS, false = none. */
  limitInputPixels?: number | false;
}

function pickVideoStream(p: ProbedMedia): ProbedStream {
  const v = p.streams.find((s) => s.type === 'video' && !s.attachedPic);
  if (!v) {
    const audio = p.streams.some((s) => s.type === 'audio');
    throw new InvalidInputError(`Not a video: ${p.path} has no video stream${audio ? ' (it has audio only; use the audio path for it)' : ''}`);
  }
  return v;
}

function readPixelLimit(v: unknown): number | false {
  if (v === undefined) return DEFAULT_LIMIT_INPUT_PIXELS;
  if (v === false) return false;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw invalid('a positive integer or false', 'limitInputPixels', v);
  return v;
}

/**
 * Probes a video file with ffprobe, or ffmpeg alone without one (demuxes every packet to count
 * frames).
 * @throws InvalidInputError (not a video, no frames, audio only, frame over the pixel limit),
 *   FFmpegNotFoundError, AbortError.
 */
export async function probeVideo(path: string, opts?: ProbeVideoOptions): Promise<VideoInfo> {
  const o = optionsObject(opts);
  const signal = optionalSignal(o.signal);
  const limit = readPixelLimit(o.limitInputPixels);
  checkMediaFile(path, 'video', 'Video');
  const p = await probeMedia(path, 'Video', { ...(o as FFmpegOptions), signal });
  const v = pickVideoStream(p);
  const width = v.width ?? 0;
  const height = v.height ?? 0;
  if (width < 1 || height < 1) throw new InvalidInputError(`Not a decodable video: ${path} has a video stream without a frame size`);
  if (limit !== false && width * height > limit) {
    throw new InvalidInputError(`Video frames of ${path} are ${width}x${height} = ${width * height} pixels, above the limit of ${limit} (limitInputPixels)`);
  }
  let fps = v.avgFrameRate ?? v.baseFrameRate;
  let duration = v.duration ?? p.duration;
  let frameCount = v.packets;
  let frameCountSource: VideoInfo['frameCountSource'] = 'packets';
  if (frameCount === undefined || frameCount === 0) {
    if (v.nbFrames !== undefined && v.nbFrames > 0) {
      frameCount = v.nbFrames;
      frameCountSource = 'nb_frames';
    } else if (fps !== undefined && duration !== undefined && Math.round(fps * duration) > 0) {
      frameCount = Math.round(fps * duration);
      frameCountSource = 'duration';
    } else frameCount = 0;
  }
  if (frameCount === 0) throw new InvalidInputError(`Not a decodable video: ${path} has no video frames`);
  let timing: VideoInfo['timing'] = 'container';
  if (fps === undefined && duration === undefined) {
    fps = FALLBACK_FPS;
    duration = frameCount / fps;
    timing = 'assumed';
  } else if (fps === undefined) {
    fps = frameCount / duration!;
    timing = 'derived';
  } else if (duration === undefined) {
    duration = frameCount / fps;
    timing = 'derived';
  }
  return {
    path,
    stream: v.index,
    codec: v.codec,
    width,
    height,
    frameCount,
    frameCountSource,
    fps,
    duration: duration!,
    timing,
    hasAudio: p.streams.some((s) => s.type === 'audio'),
    prober: p.prober,
  };
}

/** Progress of a decode: sampled frames received so far out of the total. */
export type VideoProgress = (p: { stage: 'decode'; done: number; total: number }) => void;

/** Options of {@link decodeVideoFrames}. */
export interface DecodeVideoFramesOptions extends FFmpegOptions {
  /** Frame numbers to keep, strictly increasing (e.g. from {@link sampleIndices}). */
  indices: readonly number[];
  /** Output side in pixels (frames are scaled to size x size, aspect not kept). Default 224. */
  size?: number;
  /** Stream index in the container (from {@link probeVideo}); default the first video stream. */
  stream?: number;
  signal?: AbortSignal;
  onProgress?: VideoProgress;
}

/** Decoded sampled frames. */
export interface DecodedFrames {
  /** One Uint8Array per sampled frame: size*size*3 bytes, row-major RGB. */
  frames: Uint8Array[];
  size: number;
  indices: number[];
}

function checkIndices(v: unknown): number[] {
  if (!Array.isArray(v) || v.length === 0) throw invalid('a non-empty array of frame numbers', 'indices', v);
  const out: number[] = [];
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0 || (i > 0 && x <= out[i - 1])) {
      throw invalid('strictly increasing non-negative integers', `indices[${i}]`, x);
    }
    out.push(x);
  }
  return out;
}

let fpsModeArgs: string[] | undefined;

/**
 * Streams the frames numbered `indices` out of `path` through ONE ffmpeg process:
 * `select` by frame number, `scale=size:size:flags=bilinear`, rgb24 on stdout. Only the sampled
 * frames are held in memory.
 *
 * @throws InvalidInputError when ffmpeg fails or delivers fewer frames than asked (truncated or
 *   corrupt file), AbortError (the child is killed first), FFmpegNotFoundError.
 */
export async function decodeVideoFrames(path: string, opts: DecodeVideoFramesOptions): Promise<DecodedFrames> {
  const o = optionsObject(opts);
  const indices = checkIndices(o.indices);
  const size = o.size === undefined ? DEFAULT_FRAME_SIZE : o.size;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > 4096) throw invalid('an integer between 1 and 4096', 'size', size);
  const stream = o.stream;
  if (stream !== undefined && (typeof stream !== 'number' || !Number.isInteger(stream) || stream < 0)) throw invalid('a stream index', 'stream', stream);
  const signal = optionalSignal(o.signal);
  // an onProgress whose promise rejects stops the decode (the child is killed) like one that throws
  const guard = new CallbackGuard();
  const stop = new AbortController();
  guard.onFailure = () => stop.abort();
  const onProgress = guard.wrap(optionalFunction<(p: Parameters<VideoProgress>[0]) => unknown>(o.onProgress, 'onProgress'));
  checkMediaFile(path, 'video', 'Video');
  const ffmpeg = resolveFFmpegOnly(o as FFmpegOptions).path;
  const linked = anySignal(signal, stop.signal);
  try {
    return await decodeFrames(path, ffmpeg, indices, size, stream, linked.signal, onProgress, signal);
  } finally {
    // a callback's rejection wins over the AbortError it caused
    linked.unlink();
    await guard.settle();
  }
}

async function decodeFrames(
  path: string,
  ffmpeg: string,
  indices: number[],
  size: number,
  stream: number | undefined,
  signal: AbortSignal,
  onProgress: ((p: Parameters<VideoProgress>[0]) => void) | undefined,
  userSignal: AbortSignal | undefined,
): Promise<DecodedFrames> {
  const frameBytes = size * size * 3;
  const total = indices.length;
  const select = `select='${indices.map((i) => `eq(n,${i})`).join('+')}'`;
  const run = async (modeArgs: string[]) => {
    const frames: Uint8Array[] = [];
    let cur = new Uint8Array(frameBytes);
    let fill = 0;
    const res = await runProcess(
      ffmpeg,
      [
        '-hide_banner',
        '-nostdin',
        '-v',
        'error',
        '-i',
        path,
        '-map',
        stream === undefined ? '0:v:0' : `0:${stream}`,
        '-an',
        '-sn',
        '-dn',
        '-vf',
        `${select},scale=${size}:${size}:flags=bilinear`,
        ...modeArgs,
        '-pix_fmt',
        'rgb24',
        '-f',
        'rawvideo',
        'pipe:1',
      ],
      {
        signal,
        onStdout: (chunk) => {
          let off = 0;
          while (off < chunk.length) {
            if (frames.length >= total) throw new InvalidInputError(`ffmpeg returned more than the ${total} frames asked from ${path}`);
            const n = Math.min(frameBytes - fill, chunk.length - off);
            cur.set(chunk.subarray(off, off + n), fill);
            fill += n;
            off += n;
            if (fill === frameBytes) {
              frames.push(cur);
              cur = new Uint8Array(frameBytes);
              fill = 0;
              onProgress?.({ stage: 'decode', done: frames.length, total });
            }
          }
        },
      },
    );
    return { res, frames, partial: fill };
  };

  fpsModeArgs ??= ['-fps_mode', 'passthrough'];
  let out = await run(fpsModeArgs);
  if (out.res.code !== 0 && /Unrecognized option 'fps_mode'/.test(out.res.stderr)) {
    // ffmpeg before 5.1.
    fpsModeArgs = ['-vsync', 'passthrough'];
    out = await run(fpsModeArgs);
  }
  if (signal.aborted) throw new AbortError(undefined, { cause: userSignal?.reason });
  const { res, frames } = out;
  if (frames.length < total) {
    const why = res.code !== 0 ? stderrTail(res.stderr) || `ffmpeg exited with code ${res.code}` : 'the stream ended early';
    throw new InvalidInputError(
      frames.length === 0
        ? `Cannot decode video ${path}: no frame could be decoded (${why})`
        : `Cannot decode video ${path}: only ${frames.length} of the ${total} sampled frames were decoded ` +
            `(frame ${indices[frames.length]} is missing; the file may be truncated or corrupt: ${why})`,
    );
  }
  return { frames, size, indices };
}

/** Already decoded frames (e.g. from an Electron renderer). */
export interface RawVideo {
  /** Frames in order; any size, channels 1..4 (see RawImage). */
  frames: RawImage[];
  /** Frames per second, when known. */
  fps?: number;
  /** Seconds, when known. */
  duration?: number;
}

/** A video file path, or raw frames. */
export type VideoInput = string | RawVideo;

/** Options of {@link decodeVideo}. */
export interface DecodeVideoOptions extends FFmpegOptions {
  /** Frames sampled at most (default 64). */
  maxFrames?: number;
  /** Side of the output frames (default 224). */
  size?: number;
  signal?: AbortSignal;
  onProgress?: VideoProgress;
  /** Largest accepted width x height of a frame; default DEFAULT_LIMIT_INPUT_PIXELS, false = none. */
  limitInputPixels?: number | false;
}

/** A decoded, sampled video: what the video tower takes. */
export interface DecodedVideo {
  /** Sampled frames, each size*size*3 bytes RGB8 row-major. */
  frames: Uint8Array[];
  size: number;
  /** Frame numbers sampled (sampleIndices(frameCount, maxFrames)). */
  indices: number[];
  /** Time of each sampled frame in seconds (index / fps). */
  times: number[];
  /** vlen: frames in the video. */
  frameCount: number;
  fps: number;
  /** Seconds (spans are fractions of it). */
  duration: number;
  timing: VideoInfo['timing'];
  /** The probe, for files. */
  info?: VideoInfo;
}

async function resizeFrame(f: RawImage, size: number, name: string): Promise<Uint8Array> {
  if (f.width === size && f.height === size) return toRgb8(f.data, f.width, f.height, f.channels);
  const rgb = toRgb8(f.data, f.width, f.height, f.channels);
  try {
    const out = await sharp(rgb, { raw: { width: f.width, height: f.height, channels: 3 } })
      .resize(size, size, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer();
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  } catch (err) {
    throw new InvalidInputError(`Cannot resize ${name}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function checkRawVideo(v: Record<string, unknown>, limit: number | false): { frames: RawImage[]; fps?: number; duration?: number } {
  const frames = v.frames;
  if (!Array.isArray(frames) || frames.length === 0) throw invalid('a non-empty array of frames', 'video.frames', frames);
  if (frames.length > MAX_RAW_FRAMES) throw invalid(`an array of at most ${MAX_RAW_FRAMES} frames`, 'video.frames', frames);
  // an index loop, not map(): a sparse array's holes are reported, not skipped
  const checked: RawImage[] = new Array<RawImage>(frames.length);
  for (let i = 0; i < frames.length; i++) {
    const f: unknown = frames[i];
    if (!isPlainObject(f)) throw invalid('{ data, width, height, channels }', `video.frames[${i}]`, f);
    checked[i] = checkRawImage(f, `video.frames[${i}]`, limit);
  }
  const num = (x: unknown, name: string, max: number) => {
    if (x === undefined) return undefined;
    if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) throw invalid('a positive number', name, x);
    if (x > max) throw invalid(`a positive number up to ${max}`, name, x);
    return x;
  };
  return { frames: checked, fps: num(v.fps, 'video.fps', MAX_RAW_FPS), duration: num(v.duration, 'video.duration', MAX_RAW_DURATION) };
}

/**
 * Decodes a video for the tower: probe, sample n = min(maxFrames, vlen) frames (upstream
 * indices), decode them with one ffmpeg process (files) or convert them (raw frames).
 *
 * Raw frames: the same sampling rule is applied to `frames.length`; a frame whose size is not
 * size x size is resized by sharp (libvips, 'linear' kernel, aspect not kept). That is a bilinear
 * filter too but not bit-identical to ffmpeg's swscale bilinear (±a few levels).
 * Timing of raw frames: `duration` > frames / `fps` > frames / FALLBACK_FPS ('assumed').
 *
 * @throws InvalidInputError, FFmpegNotFoundError, AbortError (see probeVideo/decodeVideoFrames).
 */
export async function decodeVideo(input: VideoInput, opts?: DecodeVideoOptions): Promise<DecodedVideo> {
  const o = optionsObject(opts);
  const maxFrames = o.maxFrames === undefined ? DEFAULT_MAX_FRAMES : o.maxFrames;
  if (typeof maxFrames !== 'number' || !Number.isSafeInteger(maxFrames) || maxFrames < 1 || maxFrames > 4096) {
    throw invalid('an integer between 1 and 4096', 'maxFrames', maxFrames);
  }
  const size = o.size === undefined ? DEFAULT_FRAME_SIZE : o.size;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > 4096) throw invalid('an integer between 1 and 4096', 'size', size);
  const signal = optionalSignal(o.signal);
  const guard = new CallbackGuard();
  const onProgress = guard.wrap(optionalFunction<(p: Parameters<VideoProgress>[0]) => unknown>(o.onProgress, 'onProgress'));
  const limit = readPixelLimit(o.limitInputPixels);

  if (typeof input === 'string') {
    const info = await probeVideo(input, { ...(o as FFmpegOptions), signal, limitInputPixels: limit });
    const indices = sampleIndices(info.frameCount, maxFrames);
    const dec = await decodeVideoFrames(input, { ...(o as FFmpegOptions), indices, size, stream: info.stream, signal, onProgress });
    await guard.settle();
    return {
      frames: dec.frames,
      size,
      indices,
      times: indices.map((i) => i / info.fps),
      frameCount: info.frameCount,
      fps: info.fps,
      duration: info.duration,
      timing: info.timing,
      info,
    };
  }
  if (!isPlainObject(input)) throw invalid('a video file path or { frames, fps?, duration? }', 'video', input);
  const raw = checkRawVideo(input, limit);
  const vlen = raw.frames.length;
  let timing: VideoInfo['timing'] = 'container';
  let fps = raw.fps;
  let duration = raw.duration;
  if (fps === undefined && duration === undefined) {
    fps = FALLBACK_FPS;
    duration = vlen / fps;
    timing = 'assumed';
  } else if (fps === undefined) {
    fps = vlen / duration!;
    timing = 'derived';
  } else if (duration === undefined) {
    duration = vlen / fps;
    timing = 'derived';
  }
  const indices = sampleIndices(vlen, maxFrames);
  const frames: Uint8Array[] = [];
  for (const i of indices) {
    if (signal?.aborted) throw new AbortError();
    guard.check();
    frames.push(await resizeFrame(raw.frames[i], size, `video.frames[${i}]`));
    onProgress?.({ stage: 'decode', done: frames.length, total: indices.length });
  }
  await guard.settle();
  return { frames, size, indices, times: indices.map((i) => i / fps!), frameCount: vlen, fps, duration: duration!, timing };
}
