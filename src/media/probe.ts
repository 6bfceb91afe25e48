/**
 * Probing a media file: its streams with packet counts (demuxing every packet, docs/COMPUTATION.md §3.1:
 * container `nb_frames` can be missing or wrong), rates, sizes and durations.
 *
 * With ffprobe (exact): `ffprobe -count_packets -show_entries ... -of json`.
 * Without ffprobe (ffmpeg-static ships none), ffmpeg alone, in one run that demuxes the file once:
 *   `ffmpeg -loglevel repeat+level+info -i FILE -map 0:v? -c copy -copyinkf -f framecrc pipe:1`
 * - stdout, machine-readable (the framecrc muxer): per video stream `#tb`, `#codec_id`,
 *   `#dimensions`, then one line per packet `stream, dts, pts, duration, size, crc[, F=flags]`:
 *   packets counted (stream copy with -copyinkf passes every demuxed packet, as ffprobe counts
 *   them), and the span of their presentation times, packets flagged discard (edit lists) left out.
 * - stderr, the input description ffmpeg prints at the info level (`Input #0, FORMAT, from ...`,
 *   `Duration: HH:MM:SS.cc`, `Stream #0:N...: Video: CODEC ..., 23.88 fps, 24 tbr, ...`), read by
 *   {@link parseInputDump}: format name, container duration (to 10 ms), stream types and indices,
 *   cover art, sample rates, frame rates (to the 0.01 ffmpeg prints).
 * What differs from ffprobe: frame rates are rounded to 0.01 fps; a video stream's duration is
 * the span of its packets (ffprobe: the duration the container states for the stream, which for
 * MP4 is the same span; Matroska states none, so ffprobe gives the container's); `nbFrames` and
 * `channels` are unknown.
 */
import fs from 'node:fs';
import { InvalidInputError } from '../errors';
import { resolveFFmpeg, runProcess, splitTaggedLog, stderrTail, TAGGED_LOG_ARGS, type FFmpegOptions } from './ffmpeg';

/** One stream as ffprobe reports it (numbers parsed; undefined when ffprobe has none). */
export interface ProbedStream {
  /** Stream index in the container (for `-map 0:<index>`). */
  index: number;
  type: 'video' | 'audio' | 'subtitle' | 'data' | 'attachment' | 'unknown';
  codec?: string;
  width?: number;
  height?: number;
  /** avg_frame_rate (what decord's get_avg_fps returns), frames per second. */
  avgFrameRate?: number;
  /** r_frame_rate (the base rate), frames per second. */
  baseFrameRate?: number;
  /** Container's frame count (may be missing or wrong; unknown to the ffmpeg-only probe). */
  nbFrames?: number;
  /** Packets counted by demuxing the whole stream (ffprobe -count_packets, or ffmpeg stream copy). */
  packets?: number;
  /** Stream duration in seconds (ffmpeg-only probe: the span of its packets). */
  duration?: number;
  sampleRate?: number;
  /** Channel count (unknown to the ffmpeg-only probe). */
  channels?: number;
  /** Cover art (an image attached to an audio file), not a video. */
  attachedPic: boolean;
}

/** A probed file. */
export interface ProbedMedia {
  path: string;
  /** What probed it: ffprobe (exact), or ffmpeg alone when there is no ffprobe. */
  prober: 'ffprobe' | 'ffmpeg';
  /** ffprobe's format name, e.g. 'mov,mp4,m4a,3gp,3g2,mj2'. */
  format?: string;
  /** Container duration in seconds. */
  duration?: number;
  streams: ProbedStream[];
}

/** ffprobe's 'num/den' -> a positive finite number, or undefined for '0/0', 'N/A'... */
function parseRate(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^(\d+)\/(\d+)$/.exec(v);
  if (m) {
    const num = Number(m[1]);
    const den = Number(m[2]);
    return num > 0 && den > 0 ? num / den : undefined;
  }
  return positive(v);
}

function positive(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

function count(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Throws InvalidInputError unless `file` names an existing regular file. */
export function checkMediaFile(file: unknown, name: string, what: string): string {
  if (typeof file !== 'string' || file.length === 0) {
    throw new InvalidInputError(`Expected a file path for ${name} but received ${JSON.stringify(file)} of type ${typeof file}`);
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new InvalidInputError(`${what} file not found: ${file}`);
  }
  if (!st.isFile()) throw new InvalidInputError(`${what} path is not a file: ${file}`);
  if (st.size === 0) throw new InvalidInputError(`${what} file is empty (0 bytes): ${file}`);
  return file;
}

/** Options of {@link probeMedia}. */
export interface ProbeOptions extends FFmpegOptions {
  signal?: AbortSignal;
  /** Count packets by demuxing the whole file (slower, exact); default true. The ffmpeg-only probe
   * always counts the packets of the video streams. */
  countPackets?: boolean;
}

/** The error for a file that ffprobe/ffmpeg cannot open (`errors`: what they printed at the error level). */
export function cannotRead(file: string, what: string, errors: string, code: number | null, tool: string): InvalidInputError {
  return new InvalidInputError(`Cannot read ${what.toLowerCase()} file ${file}: ${stderrTail(errors) || `${tool} exited with code ${code}`}`);
}

/**
 * Probes `file` with ffprobe, or with ffmpeg alone when no ffprobe is found (see the module notes).
 * @param what  'Video' or 'Audio', for messages.
 * @throws InvalidInputError when the file cannot be read; FFmpegNotFoundError (no ffmpeg); AbortError.
 */
export async function probeMedia(file: string, what: string, options: ProbeOptions = {}): Promise<ProbedMedia> {
  const { ffprobe, ffmpeg } = resolveFFmpeg(options);
  if (ffprobe === undefined) return probeWithFFmpeg(ffmpeg, file, what, options.signal);
  const args = ['-v', 'error', '-hide_banner'];
  if (options.countPackets !== false) args.push('-count_packets');
  args.push(
    '-show_entries',
    'stream=index,codec_type,codec_name,width,height,avg_frame_rate,r_frame_rate,nb_frames,nb_read_packets,duration,sample_rate,channels' +
      ':stream_disposition=attached_pic:format=format_name,duration',
    '-of',
    'json',
    '-i',
    file,
  );
  const res = await runProcess(ffprobe, args, { signal: options.signal });
  if (res.code !== 0) throw cannotRead(file, what, res.stderr, res.code, 'ffprobe');
  let json: { streams?: Record<string, unknown>[]; format?: Record<string, unknown> };
  try {
    json = JSON.parse(res.stdout.toString('utf8'));
  } catch {
    throw new InvalidInputError(`Cannot read ${what.toLowerCase()} file ${file}: ffprobe printed no readable description`);
  }
  const types = new Set(['video', 'audio', 'subtitle', 'data', 'attachment']);
  const streams: ProbedStream[] = (json.streams ?? []).map((s) => {
    const type = typeof s.codec_type === 'string' && types.has(s.codec_type) ? (s.codec_type as ProbedStream['type']) : 'unknown';
    const disp = s.disposition as Record<string, unknown> | undefined;
    return {
      index: count(s.index) ?? 0,
      type,
      codec: typeof s.codec_name === 'string' ? s.codec_name : undefined,
      width: count(s.width),
      height: count(s.height),
      avgFrameRate: parseRate(s.avg_frame_rate),
      baseFrameRate: parseRate(s.r_frame_rate),
      nbFrames: count(s.nb_frames),
      packets: count(s.nb_read_packets),
      duration: positive(s.duration),
      sampleRate: count(s.sample_rate),
      channels: count(s.channels),
      attachedPic: disp?.attached_pic === 1,
    };
  });
  return {
    path: file,
    prober: 'ffprobe',
    format: typeof json.format?.format_name === 'string' ? json.format.format_name : undefined,
    duration: positive(json.format?.duration),
    streams,
  };
}

const dumpTypes: Record<string, ProbedStream['type']> = {
  Video: 'video',
  Audio: 'audio',
  Subtitle: 'subtitle',
  Data: 'data',
  Attachment: 'attachment',
};

/** A rate as ffmpeg prints it ('23.88', '25', '90k', '0.0010') -> a positive number. */
function dumpRate(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return positive(v.endsWith('k') ? Number(v.slice(0, -1)) * 1000 : v);
}

/**
 * Reads the description of input #0 that ffmpeg prints at the info level (av_dump_format), from
 * the info lines of {@link splitTaggedLog}; undefined when there is none (the file could not be
 * opened). Only the lines at the structure's own places are read: the blocks under `Metadata:`,
 * `Side data:`, `Chapters:` (more deeply indented, where a file's tags could imitate anything)
 * are skipped, and the description ends at the first line that is not indented.
 */
export function parseInputDump(info: readonly string[], file: string): ProbedMedia | undefined {
  const start = info.findIndex((l) => l.startsWith('Input #0, '));
  const head = start < 0 ? null : /^Input #0, (\S+), from '/.exec(info[start]);
  if (!head) return undefined;
  const out: ProbedMedia = { path: file, prober: 'ffmpeg', format: head[1], streams: [] };
  let block = Infinity;
  for (let i = start + 1; i < info.length; i++) {
    const line = info[i];
    const text = line.trimStart();
    const indent = line.length - text.length;
    if (indent === 0) break;
    if (indent > block) continue;
    block = Infinity;
    if (text.trimEnd().endsWith(':')) {
      block = indent;
      continue;
    }
    // '  Duration: 00:00:10.03, start: 0.000000, bitrate: 527 kb/s' (or 'Duration: N/A, ...')
    const d = /^Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?),/.exec(text);
    if (d) out.duration = positive(Number(d[1]) * 3600 + Number(d[2]) * 60 + Number(d[3]));
    // '  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp, 155 kb/s (default)'
    const s = /^Stream #0:(\d+)\S*?: (\w+): (.*)$/.exec(text);
    if (!s || out.streams.some((x) => x.index === Number(s[1]))) continue;
    const desc = s[3];
    const size = /, (\d+)x(\d+)\b/.exec(desc);
    out.streams.push({
      index: Number(s[1]),
      type: dumpTypes[s[2]] ?? 'unknown',
      codec: /^[^\s,]+/.exec(desc)?.[0],
      width: size ? Number(size[1]) : undefined,
      height: size ? Number(size[2]) : undefined,
      avgFrameRate: dumpRate(/, ([\d.]+k?) fps\b/.exec(desc)?.[1]),
      baseFrameRate: dumpRate(/, ([\d.]+k?) tbr\b/.exec(desc)?.[1]),
      sampleRate: count(/, (\d+) Hz\b/.exec(desc)?.[1]),
      attachedPic: desc.includes('(attached pic)'),
    });
  }
  return out;
}

/** What the framecrc muxer says about one output stream. */
interface CrcStream {
  tb?: number;
  codec?: string;
  width?: number;
  height?: number;
  packets: number;
  /** Earliest pts and latest pts + duration of the packets not flagged discard, in tb units. */
  first: number;
  end: number;
}

/**
 * The ffmpeg-only probe: stream-copies every video stream to the framecrc muxer (module notes).
 * Output stream k is the k-th video stream of the input (`-map 0:v` keeps their order).
 */
async function probeWithFFmpeg(ffmpeg: string, file: string, what: string, signal: AbortSignal | undefined): Promise<ProbedMedia> {
  const crc: CrcStream[] = [];
  const at = (k: number) => (crc[k] ??= { packets: 0, first: Infinity, end: -Infinity });
  let rest = '';
  const readLine = (line: string) => {
    // '#tb 0: 1/90000', '#codec_id 0: h264', '#dimensions 0: 720x358'
    const h = /^#(\w+) (\d+): (.*)$/.exec(line);
    if (h) {
      const s = at(Number(h[2]));
      if (h[1] === 'tb') s.tb = parseRate(h[3]);
      else if (h[1] === 'codec_id') s.codec = h[3];
      else if (h[1] === 'dimensions') [s.width, s.height] = h[3].split('x').map(Number);
      return;
    }
    // '0,      -3750,       5942,     3768,     1508, 0x100ce53f, F=0x0'
    const f = line.split(',').map((x) => x.trim());
    if (f.length < 6 || !/^\d+$/.test(f[0])) return;
    const s = at(Number(f[0]));
    s.packets++;
    const pts = Number(f[2]);
    const flags = f.find((x) => x.startsWith('F=0x'));
    const discard = flags !== undefined && (parseInt(flags.slice(4), 16) & 4) !== 0; // AV_PKT_FLAG_DISCARD
    if (!discard && Number.isSafeInteger(pts)) {
      s.first = Math.min(s.first, pts);
      s.end = Math.max(s.end, pts + Math.max(0, Number(f[3]) || 0));
    }
  };
  const res = await runProcess(
    ffmpeg,
    ['-hide_banner', '-nostdin', ...TAGGED_LOG_ARGS, '-i', file, '-map', '0:v?', '-c', 'copy', '-copyinkf', '-f', 'framecrc', 'pipe:1'],
    {
      signal,
      onStdout: (chunk) => {
        const lines = (rest + chunk.toString('latin1')).split('\n');
        rest = lines.pop()!;
        lines.forEach(readLine);
      },
    },
  );
  readLine(rest);
  const log = splitTaggedLog(res.stderr);
  const media = parseInputDump(log.info, file);
  if (!media) throw cannotRead(file, what, log.errors, res.code, 'ffmpeg');
  const videos = media.streams.filter((s) => s.type === 'video');
  // Without a video stream ffmpeg stops at once ('Output file does not contain any stream'): the
  // caller says what the file is.
  if (res.code !== 0 && videos.length > 0) throw cannotRead(file, what, log.errors, res.code, 'ffmpeg');
  videos.forEach((v, k) => {
    const c = crc[k];
    if (!c) return;
    v.codec = c.codec ?? v.codec;
    v.width = c.width ?? v.width;
    v.height = c.height ?? v.height;
    v.packets = c.packets;
    // A span only where the container has timestamps of its own (it states a duration); ffmpeg
    // makes up timestamps for raw streams, whose duration is then derived (vlen / fps) as with ffprobe.
    if (media.duration !== undefined && c.tb !== undefined && c.end > c.first) v.duration = positive((c.end - c.first) * c.tb);
  });
  return media;
}
