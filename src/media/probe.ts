/**
 * ffprobe of a media file: its streams with packet counts (demuxing every packet, SPEC §3.1:
 * container `nb_frames` can be missing or wrong), rates, sizes and durations.
 */
import fs from 'node:fs';
import { InvalidInputError } from '../errors';
import { resolveFFmpeg, runProcess, stderrTail, type FFmpegOptions } from './ffmpeg';

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
  /** Container's frame count (may be missing or wrong). */
  nbFrames?: number;
  /** Packets counted by demuxing the whole stream (ffprobe -count_packets). */
  packets?: number;
  /** Stream duration in seconds. */
  duration?: number;
  sampleRate?: number;
  channels?: number;
  /** Cover art (an image attached to an audio file), not a video. */
  attachedPic: boolean;
}

/** A probed file. */
export interface ProbedMedia {
  path: string;
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
  /** Count packets by demuxing the whole file (slower, exact); default true. */
  countPackets?: boolean;
}

/**
 * Runs ffprobe on `file`.
 * @param what  'Video' or 'Audio', for messages.
 * @throws InvalidInputError when ffprobe cannot read the file; FFmpegNotFoundError; AbortError.
 */
export async function probeMedia(file: string, what: string, options: ProbeOptions = {}): Promise<ProbedMedia> {
  const { ffprobe } = resolveFFmpeg(options);
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
  if (res.code !== 0) {
    throw new InvalidInputError(`Cannot read ${what.toLowerCase()} file ${file}: ${stderrTail(res.stderr) || `ffprobe exited with code ${res.code}`}`);
  }
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
    format: typeof json.format?.format_name === 'string' ? json.format.format_name : undefined,
    duration: positive(json.format?.duration),
    streams,
  };
}
