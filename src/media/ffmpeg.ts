/**
 * Finding ffmpeg/ffprobe and running them as child processes.
 *
 * Resolution order (the first candidate that exists and is executable wins):
 * - ffmpeg:  `options.ffmpegPath` > env `FFMPEG_PATH` > the optional dependency `ffmpeg-static`
 *            (required lazily; usually absent offline) > `ffmpeg` on `PATH`.
 * - ffprobe: `options.ffprobePath` > env `FFPROBE_PATH` > `ffprobe` in the folder of the resolved
 *            ffmpeg > `ffprobe` on `PATH`.
 * An explicit `ffmpegPath` or `ffprobePath` that does not exist or cannot be executed is an
 * `FFmpegNotFoundError` (the caller chose it: falling back would hide a typo). Any other
 * candidate that does not work is skipped (and reported) rather than fatal, so a stale
 * `FFMPEG_PATH` does not hide a working system ffmpeg; when no ffmpeg works the error
 * (`FFmpegNotFoundError`) lists every candidate tried and why it was rejected. ffprobe is optional:
 * without it files are probed with ffmpeg alone (src/media/probe.ts), so the ffmpeg binary of
 * `ffmpeg-static` (which ships no ffprobe) is enough.
 *
 * Child processes are spawned with argument arrays (never a shell), stdin closed unless data is
 * piped, stderr collected (its tail goes into error messages). A process is killed (SIGKILL) when
 * the caller's `AbortSignal` fires or when reading its output fails, and every returned promise
 * settles only after the child has exited, so no ffmpeg outlives the call and nothing keeps the
 * event loop alive afterwards.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { AbortError, FFmpegNotFoundError, InvalidInputError } from '../errors';

/** Options shared by everything that runs ffmpeg/ffprobe. */
export interface FFmpegOptions {
  /** Path of the ffmpeg executable (highest priority). */
  ffmpegPath?: string;
  /** Path of the ffprobe executable (highest priority). */
  ffprobePath?: string;
}

/** The executables found, and where they came from. */
export interface ResolvedFFmpeg {
  ffmpeg: string;
  /** ffprobe, or undefined when none was found (files are then probed with ffmpeg alone). */
  ffprobe?: string;
  /** Which rule gave ffmpeg: 'option' | 'env' | 'ffmpeg-static' | 'path'. */
  ffmpegSource: 'option' | 'env' | 'ffmpeg-static' | 'path';
  /** Which rule gave ffprobe: 'option' | 'env' | 'beside-ffmpeg' | 'path'; undefined without ffprobe. */
  ffprobeSource?: 'option' | 'env' | 'beside-ffmpeg' | 'path';
  /** Without ffprobe: every candidate tried and why it was rejected. */
  ffprobeTried?: string[];
}

const exeSuffix = process.platform === 'win32' ? '.exe' : '';

/** Why `file` cannot be run, or undefined when it can. */
function unusable(file: string): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return 'not found';
  }
  if (!st.isFile()) return 'not a file';
  if (process.platform !== 'win32') {
    try {
      fs.accessSync(file, fs.constants.X_OK);
    } catch {
      return 'not executable';
    }
  }
  return undefined;
}

/** Looks `name` up in the folders of `PATH` (and PATHEXT on Windows). */
function searchPath(name: string, tried: string[]): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const exts = process.platform === 'win32' ? (process.env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';').filter(Boolean) : [''];
  for (const dir of dirs) {
    for (const ext of exts) {
      const file = path.join(dir, name + ext);
      if (!unusable(file)) return file;
    }
  }
  tried.push(`'${name}' on PATH (${dirs.length === 0 ? 'PATH is empty' : `not found in ${dirs.join(path.delimiter)}`})`);
  return undefined;
}

/** The path exported by the optional dependency `ffmpeg-static`, if it is installed and usable. */
function ffmpegStatic(tried: string[]): string | undefined {
  let p: unknown;
  try {
    // Optional dependency: its install script downloads a binary and fails offline.
    p = require('ffmpeg-static');
  } catch {
    tried.push("the optional package 'ffmpeg-static' (not installed)");
    return undefined;
  }
  if (typeof p !== 'string' || p.length === 0) {
    tried.push("the optional package 'ffmpeg-static' (no binary for this platform)");
    return undefined;
  }
  const why = unusable(p);
  if (why) {
    tried.push(`the optional package 'ffmpeg-static' -> ${p} (${why})`);
    return undefined;
  }
  return p;
}

/** An executable the caller named: it must work (a typo is not silently replaced by another ffmpeg). */
function required(file: string | undefined, label: string): string | undefined {
  if (file === undefined) return undefined;
  const why = unusable(file);
  if (why) {
    throw new FFmpegNotFoundError(
      `${label} = ${file} cannot be used (${why}); an explicit path is not replaced by another candidate. ` +
        `Fix the path, or leave ${label} out to search ${label === 'ffmpegPath' ? 'FFMPEG_PATH, ffmpeg-static and PATH' : 'FFPROBE_PATH, beside ffmpeg and PATH (ffprobe is optional)'}.`,
    );
  }
  return file;
}

function explicit(file: string | undefined, label: string, tried: string[]): string | undefined {
  if (file === undefined || file === '') return undefined;
  const why = unusable(file);
  if (why) {
    tried.push(`${label} = ${file} (${why})`);
    return undefined;
  }
  return file;
}

function checkOption(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidInputError(`Expected a non-empty string for ${name} but received ${JSON.stringify(value)} of type ${typeof value}`);
  }
  return value;
}

/**
 * Resolves ffmpeg only (decoding does not need ffprobe).
 * @throws FFmpegNotFoundError listing every candidate tried.
 */
export function resolveFFmpegOnly(options: FFmpegOptions = {}): { path: string; source: ResolvedFFmpeg['ffmpegSource'] } {
  const tried: string[] = [];
  const opt = required(checkOption(options.ffmpegPath, 'ffmpegPath'), 'ffmpegPath');
  if (opt) return { path: opt, source: 'option' };
  const env = explicit(process.env.FFMPEG_PATH, 'env FFMPEG_PATH', tried);
  if (env) return { path: env, source: 'env' };
  if (process.env.FFMPEG_PATH === undefined || process.env.FFMPEG_PATH === '') tried.push('env FFMPEG_PATH (not set)');
  const st = ffmpegStatic(tried);
  if (st) return { path: st, source: 'ffmpeg-static' };
  const onPath = searchPath('ffmpeg', tried);
  if (onPath) return { path: onPath, source: 'path' };
  throw new FFmpegNotFoundError(
    `ffmpeg is needed to decode this input and was not found. Tried: ${tried.join('; ')}. ` +
      'Install ffmpeg (e.g. apt-get install ffmpeg) or pass ffmpegPath / set FFMPEG_PATH.',
  );
}

/**
 * Resolves ffmpeg and, when there is one, ffprobe (a missing ffprobe is not an error).
 * @throws FFmpegNotFoundError listing every candidate tried when there is no ffmpeg.
 */
export function resolveFFmpeg(options: FFmpegOptions = {}): ResolvedFFmpeg {
  const ff = resolveFFmpegOnly(options);
  const tried: string[] = [];
  const done = (ffprobe: string, ffprobeSource: ResolvedFFmpeg['ffprobeSource']): ResolvedFFmpeg => ({
    ffmpeg: ff.path,
    ffmpegSource: ff.source,
    ffprobe,
    ffprobeSource,
  });
  const opt = required(checkOption(options.ffprobePath, 'ffprobePath'), 'ffprobePath');
  if (opt) return done(opt, 'option');
  const env = explicit(process.env.FFPROBE_PATH, 'env FFPROBE_PATH', tried);
  if (env) return done(env, 'env');
  if (process.env.FFPROBE_PATH === undefined || process.env.FFPROBE_PATH === '') tried.push('env FFPROBE_PATH (not set)');
  const beside = path.join(path.dirname(ff.path), `ffprobe${path.extname(ff.path) || exeSuffix}`);
  const besideOk = explicit(beside, 'next to ffmpeg', tried);
  if (besideOk) return done(besideOk, 'beside-ffmpeg');
  const onPath = searchPath('ffprobe', tried);
  if (onPath) return done(onPath, 'path');
  return { ffmpeg: ff.path, ffmpegSource: ff.source, ffprobeTried: tried };
}

/** pids of the ffmpeg/ffprobe children this module started and that have not exited yet. */
const live = new Set<number>();

/** pids of the children started by this module that are still running (diagnostics and tests). */
export function runningChildren(): number[] {
  return [...live];
}

/** Options of {@link runProcess}. */
export interface RunOptions {
  /** Aborts the run: the child is killed and the promise rejects with `AbortError`. */
  signal?: AbortSignal;
  /**
   * Called with every stdout chunk; throwing kills the child and rejects with that error;
   * returning false kills it too, but the run resolves (with `stopped: true`).
   */
  onStdout?: (chunk: Buffer) => void | false;
  /** Bytes written to the child's stdin (then closed); without it stdin is ignored. */
  stdin?: Uint8Array;
  /** Called once the child has started. */
  onSpawn?: (pid: number) => void;
  /** Bytes of stderr kept (the tail), default 64 KiB. */
  maxStderr?: number;
}

/** What a finished child left. */
export interface RunResult {
  /** Exit code (null when killed by a signal). */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The tail of stderr, as text. */
  stderr: string;
  /** stdout, when no `onStdout` consumer was given. */
  stdout: Buffer;
  /** Whether `onStdout` returned false (the child was killed on purpose). */
  stopped: boolean;
}

/**
 * Runs `file args...` and resolves when it has exited (whatever its exit code: the caller judges).
 * Rejects with `AbortError` when `signal` fires, with `FFmpegNotFoundError` when the executable
 * cannot be started, or with the error thrown by `onStdout`; in each case only after the child has
 * exited.
 */
export function runProcess(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const { signal, onStdout, stdin, onSpawn } = options;
  const maxStderr = options.maxStderr ?? 64 * 1024;
  return new Promise<RunResult>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortError());
      return;
    }
    const child = spawn(file, args, {
      stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      windowsHide: true,
      shell: false,
    });
    let failure: unknown;
    let stopped = false;
    let stderrChunks: Buffer[] = [];
    let stderrBytes = 0;
    const stdoutChunks: Buffer[] = [];
    const kill = (why: unknown) => {
      if (failure === undefined) failure = why;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const onAbort = () => kill(new AbortError());
    signal?.addEventListener('abort', onAbort, { once: true });
    if (child.pid !== undefined) {
      live.add(child.pid);
      try {
        onSpawn?.(child.pid);
      } catch (err) {
        kill(err);
      }
    }
    child.stdout!.on('data', (chunk: Buffer) => {
      if (failure !== undefined || stopped) return;
      if (!onStdout) {
        stdoutChunks.push(chunk);
        return;
      }
      try {
        if (onStdout(chunk) === false) {
          stopped = true;
          child.kill('SIGKILL');
        }
      } catch (err) {
        kill(err);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderrChunks.push(chunk);
      stderrBytes += chunk.length;
      if (stderrBytes > 2 * maxStderr) {
        const all = Buffer.concat(stderrChunks);
        stderrChunks = [all.subarray(all.length - maxStderr)];
        stderrBytes = maxStderr;
      }
    });
    if (stdin && child.stdin) {
      // EPIPE when the child exits before reading everything (e.g. it rejected the input).
      child.stdin.on('error', () => undefined);
      child.stdin.end(Buffer.from(stdin.buffer, stdin.byteOffset, stdin.byteLength));
    }
    child.on('error', (err: NodeJS.ErrnoException) => {
      // Spawn failure (ENOENT, EACCES): 'close' still follows.
      if (err.code === 'ENOENT' || err.code === 'EACCES') {
        kill(new FFmpegNotFoundError(`Cannot run ${file}: ${err.code === 'ENOENT' ? 'not found' : 'permission denied'}`));
      } else kill(err);
    });
    child.on('close', (code, sig) => {
      if (child.pid !== undefined) live.delete(child.pid);
      signal?.removeEventListener('abort', onAbort);
      if (failure !== undefined) {
        reject(failure);
        return;
      }
      let stderr = Buffer.concat(stderrChunks);
      if (stderr.length > maxStderr) stderr = stderr.subarray(stderr.length - maxStderr);
      resolve({ code, signal: sig, stderr: stderr.toString('utf8'), stdout: Buffer.concat(stdoutChunks), stopped });
    });
  });
}

/** The last meaningful lines of an ffmpeg stderr, for error messages. */
export function stderrTail(stderr: string, lines = 4): string {
  const kept = stderr
    .split(/\r?\n/)
    // '[mov,mp4,... @ 0x55d0c0a1b2c0] moov atom not found' -> 'mov,mp4,...: moov atom not found'
    .map((l) => l.replace(/^\[([^\]@]+?) @ 0x[0-9a-f]+\]\s*/i, '$1: ').trim())
    .filter((l, i, all) => l.length > 0 && all.indexOf(l) === i);
  return kept.slice(-lines).join(' | ');
}

/**
 * Arguments that make ffmpeg describe its input on stderr (`Input #0, ...`, printed at the info
 * level) with a `[level]` tag at the start of every line, so that the description and the errors
 * can be told apart ({@link splitTaggedLog}). `repeat`: no "Last message repeated" folding.
 */
export const TAGGED_LOG_ARGS = ['-loglevel', 'repeat+level+info', '-nostats'] as const;

/**
 * Splits a stderr written with {@link TAGGED_LOG_ARGS}: `info` = the lines ffmpeg itself logged at
 * the info level (no `[demuxer @ 0x...]` context), tag removed; `errors` = the error, fatal and
 * panic lines (what `-v error` would print), tag removed, context kept.
 */
export function splitTaggedLog(stderr: string): { info: string[]; errors: string } {
  const info: string[] = [];
  const errors: string[] = [];
  for (const line of stderr.split(/\r?\n/)) {
    // '[mp3 @ 0x55d0c0a1b2c0] [error] Header missing' or '[info]   Duration: ...'
    const m = /^((?:\[[^\]]*? @ 0x[0-9a-f]+\] )*)\[(\w+)\] (.*)$/i.exec(line);
    if (!m) continue;
    if (m[2] === 'info' && m[1] === '') info.push(m[3]);
    else if (m[2] === 'error' || m[2] === 'fatal' || m[2] === 'panic') errors.push(m[1] + m[3]);
  }
  return { info, errors: errors.join('\n') };
}
