#!/usr/bin/env node
/**
 * The `groundinggpt` command. Subcommands live in the COMMANDS table (name, one-line summary,
 * usage text, run); `groundinggpt help` lists them. Exit codes: 0 success, 1 failure, 2 usage error.
 * (Over 500 lines: the table and its small handlers read best together; a command that grows
 * past ~60 lines moves to its own module, as pull did to src/pull.)
 *
 *   groundinggpt convert --model <dir> --clip <dir> --out <dir> [--type f32|f16|q8_0|q4_k_m]
 *   groundinggpt synth --preset tiny|7b --out <dir> [--type ...] [--seed N]
 *   groundinggpt image <file> "<prompt>" [--model dir] [--draw out.png] [--json]
 *   groundinggpt video <file> "<prompt>" [--model dir] [--draw strip.png] [--json]
 *   groundinggpt audio <file> "<prompt>" [--image img] [--model dir] [--draw out.png] [--json]
 *   groundinggpt pull [name] [--type q4_k_m|q8_0|f16] [--out dir] [--no-keep-source]
 *   groundinggpt list
 *   groundinggpt rm <name[:type]>
 *   groundinggpt serve [--model dir] [--host 127.0.0.1] [--port 8080] [--parallel n] [--api-key key]
 *   groundinggpt eval <task> --data <file|dir> [--split s] [--limit n] [--out f.jsonl] [--resume] [--parallel n]
 * image/video/audio without --model and $GROUNDINGGPT_MODEL use the default model name and pull it
 * on first use (--no-pull refuses).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MODEL_LOAD_OPTIONS } from './cli-options';
import { GroundingGPTError } from './errors';
import { toolVersion } from './convert/common';
import { convert } from './convert/index';
import { synth } from './convert/synth';
import { loadModel } from './load';
import { describeResult, runChat } from './repl';
import type { Model } from './model';
import { TOWER_MATMULS, type GroundOptions, type LoadModelOptions, type GroundProgress, type GroundResult, type TowerMatmul } from './types';
import { decodeAudio } from './media/audio';
import { drawBoxes, drawVideoStrip, drawWaveform } from './media/draw';
import { decodeVideo } from './media/video';
import { DEFAULT_MODEL, listModels, pull, removeModel, resolveModelName, type PullProgress } from './pull/index';
import { modelHome } from './pull/registry';
import { SERVE_USAGE, serveCommand } from './serve/command';
import { evalCommand, evalUsage } from './eval/command';

/** A subcommand: `run` receives the arguments after the command name. */
export interface Command {
  summary: string;
  usage: string;
  run(argv: string[]): Promise<void>;
}

/** Thrown for bad command lines (exit code 2, usage printed). */
export class UsageError extends Error {}

function parse(argv: string[], options: NonNullable<ParseArgsConfig['options']>): { values: Record<string, string | boolean | undefined> } {
  try {
    const r = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: false, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined> };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function parseWithPositionals(
  argv: string[],
  options: NonNullable<ParseArgsConfig['options']>,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function numberOption(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} expects a number, got "${v}"`);
  return n;
}

function intOption(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} expects a non-negative integer, got "${v}"`);
  return Number(v);
}

/** Progress on stderr: a rewritten line on a terminal, one line per 10% otherwise. */
function progressPrinter(label: string): { update(fraction: number, detail?: string): void; end(): void } {
  const tty = process.stderr.isTTY;
  const t0 = Date.now();
  let lastBucket = -1;
  return {
    update(fraction, detail) {
      const pct = Math.floor(fraction * 100);
      const secs = ((Date.now() - t0) / 1000).toFixed(0);
      const text = `${label} ${String(pct).padStart(3)}%  ${secs}s  ${detail ?? ''}`;
      if (tty) {
        process.stderr.write(`\r${text.slice(0, (process.stderr.columns || 100) - 1).padEnd((process.stderr.columns || 100) - 1)}`);
      } else if (Math.floor(pct / 10) !== lastBucket) {
        lastBucket = Math.floor(pct / 10);
        process.stderr.write(`${text}\n`);
      }
    },
    end() {
      if (tty) process.stderr.write('\n');
    },
  };
}

/** Ctrl-C aborts the running operation cleanly (temporary files removed). */
function abortOnSigint(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once('SIGINT', onSig);
  return { signal: ac.signal, dispose: () => process.off('SIGINT', onSig) };
}

const TYPES_HELP = 'f32 | f16 (default) | q8_0 | q4_k_m';

const GROUND_OPTIONS = {
  model: { type: 'string' },
  'no-pull': { type: 'boolean' },
  draw: { type: 'string' },
  json: { type: 'boolean' },
  'max-tokens': { type: 'string' },
  temperature: { type: 'string' },
  seed: { type: 'string' },
  'no-kv-cache': { type: 'boolean' },
  ...MODEL_LOAD_OPTIONS,
} as const;

const GROUND_HELP = `  --model <dir|name>   model directory from convert/synth, or a model name such as
                       groundinggpt-7b:q8_0 (default: $GROUNDINGGPT_MODEL, else ${DEFAULT_MODEL},
                       pulled from the Hugging Face Hub on first use)
  --no-pull            never download: fail when the named model is not in the model cache
  --draw <file>        also write a picture of the result (.png, .jpg, .webp)
  --json               print the whole result as JSON instead of the answer
  --max-tokens <n>     most tokens to generate (default 512)
  --temperature <t>    0 = greedy (default); upstream samples at 0.2
  --seed <n>           sampling seed
  --threads <n>        CPU threads (default: physical cores)
  --gpu-layers <n>     LLM layers on the GPU, -1 = all (default: all when the build has a GPU backend)
  --rpc <h:p,...>      run the LLM's layers on ggml-rpc-server hosts (README "Several machines
                       (RPC)"; no authentication: trusted networks or an SSH tunnel only)
  --tower-device <d>   where the towers run: local (default) or rpc:N (the N-th RPC device)
  --context-size <n>   context size in tokens (default 4096)
  --tower-matmul <m>   the towers' CPU matmuls: auto (default), ggml, int8 (experimental)
  --no-kv-cache        do not keep image/video prompts' KV state on disk (default: kept under
                       the model cache's kv-cache folder, 4 GiB at most, so that asking about the
                       same picture again skips the tower and most of the prefill)
  --ffmpeg <path>      ffmpeg to use (default: $FFMPEG_PATH, ffmpeg-static, ffmpeg on PATH)
  --ffprobe <path>     ffprobe to use (optional: without one ffmpeg probes)`;

/** Loads the model named by --model (or $GROUNDINGGPT_MODEL) with the CLI's options. */
async function cliModel(
  values: Record<string, string | boolean | undefined>,
  signal: AbortSignal,
  extra: Pick<LoadModelOptions, 'parallel' | 'kvCacheDir'> = {},
): Promise<Model> {
  let dir = (values.model as string | undefined) || process.env.GROUNDINGGPT_MODEL || DEFAULT_MODEL;
  dir = await ensureNamedModel(dir, values['no-pull'] === true, signal);
  const threads = intOption(values.threads as string | undefined, 'threads');
  const contextSize = intOption(values['context-size'] as string | undefined, 'context-size');
  const gpuLayers = intOption(values['gpu-layers'] as string | undefined, 'gpu-layers');
  const towerMatmul = values['tower-matmul'] as TowerMatmul | undefined;
  const rpc = rpcOption(values.rpc as string | undefined);
  const towerDevice = values['tower-device'] as LoadModelOptions['towerDevice'] | undefined;
  if (towerMatmul !== undefined && !TOWER_MATMULS.includes(towerMatmul)) {
    throw new UsageError(`--tower-matmul must be ${TOWER_MATMULS.slice(0, -1).join(', ')} or ${TOWER_MATMULS.at(-1)} (got "${towerMatmul}")`);
  }
  return loadModel({
    model: dir,
    signal,
    ...(threads ? { threads } : {}),
    ...(contextSize ? { contextSize } : {}),
    ...(gpuLayers !== undefined ? { gpuLayers } : {}),
    ...(towerMatmul ? { towerMatmul } : {}),
    ...(rpc ? { rpc } : {}),
    ...(towerDevice ? { towerDevice } : {}),
    ...extra,
    ...(values['no-kv-cache'] === true ? { kvCacheDir: undefined } : {}),
  });
}

/** The CLI's KV cache on disk (image, video, audio and chat commands; --no-kv-cache turns it off). */
function cliKvCache(): Pick<LoadModelOptions, 'kvCacheDir'> {
  return { kvCacheDir: path.join(modelHome(), 'kv-cache') };
}

/** `--rpc host:port,host:port` as loadModel's `rpc` (loadModel validates each entry). */
export function rpcOption(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (list.length === 0) throw new UsageError('--rpc takes host:port[,host:port...]');
  return list;
}

function gib(n: number): string {
  return n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(2)} GiB` : mib(n);
}

/** Prints pull()'s events on stderr: the plan (what, how big, where, licences), then progress. */
function pullPrinter(json: boolean): { onProgress(p: PullProgress): void; end(): void } {
  const dl = progressPrinter('download');
  const cv = progressPrinter('convert');
  let stage = '';
  const out = (s: string) => process.stderr.write(s);
  return {
    onProgress(p) {
      if (json) {
        out(`${JSON.stringify(p)}\n`);
        return;
      }
      if (p.stage !== stage && stage === 'download') dl.end();
      if (p.stage === 'plan' && p.plan) {
        const pl = p.plan;
        const cached = pl.totalBytes - pl.downloadBytes;
        out(
          `pulling ${pl.name}:${pl.type} from ${pl.repos.map((r) => `${r.repo}@${r.revision}${r.revision === r.commit ? '' : ` (${r.commit.slice(0, 12)})`}`).join(' + ')}\n`,
        );
        out(
          `  ${pl.files.length} files, ${gib(pl.totalBytes)}: ${gib(pl.downloadBytes)} to download${cached ? `, ${gib(cached)} already in the Hugging Face cache` : ''}\n`,
        );
        out(`  source files: ${pl.hfCache}\n  model directory: ${pl.dir}\n`);
        out(`  the weights are not ours; their licences:\n${pl.licences.map((l) => `    ${l.part}: ${l.licence}${l.note ? ` (${l.note})` : ''}\n`).join('')}`);
      } else if (p.stage === 'download' && p.total) {
        const rate = p.rate ? `${mib(p.rate)}/s` : '';
        const eta = p.eta !== undefined ? `ETA ${Math.ceil(p.eta)}s` : '';
        dl.update((p.bytes ?? 0) / p.total, `${gib(p.bytes ?? 0)} / ${gib(p.total)}  ${rate}  ${eta}  ${p.file ?? ''}`);
      } else if (p.stage === 'convert' && p.convert) {
        cv.update(p.convert.fraction, p.convert.stage === 'quantize' ? 'quantizing the LLM' : (p.convert.tensor ?? p.convert.stage));
        if (p.convert.stage === 'done') cv.end();
      } else if ((p.stage === 'retry' || p.stage === 'wait') && p.message) {
        out(`${process.stderr.isTTY ? '\n' : ''}${p.message}\n`);
      }
      stage = p.stage;
    },
    end() {
      if (stage === 'download') dl.end();
    },
  };
}

/**
 * A model name (not an existing path) to its directory in the model cache, pulling it first
 * unless `noPull` (then a clear error).
 */
async function ensureNamedModel(value: string, noPull: boolean, signal: AbortSignal): Promise<string> {
  if (fs.existsSync(value)) return value;
  const named = resolveModelName(value);
  if (!named) return value; // loadModel reports the missing path
  if (named.cached) return named.dir;
  if (noPull) {
    throw new GroundingGPTError(
      'MODEL_NOT_PULLED',
      `the model ${named.name}:${named.type} is not in the model cache (${named.dir}) and --no-pull was given: run \`groundinggpt pull ${value}\` first, or pass --model <dir>`,
    );
  }
  process.stderr.write(`${named.name}:${named.type} is not in the model cache yet: pulling it (once) from the Hugging Face Hub\n`);
  const printer = pullPrinter(false);
  try {
    const r = await pull({ name: value, signal, onProgress: printer.onProgress });
    process.stderr.write(`model ready in ${r.dir}\n`);
    return r.dir;
  } finally {
    printer.end();
  }
}

/** The generation and decoding options of a call (no signal, callbacks): what `chat` gives every turn. */
function turnOptions(values: Record<string, string | boolean | undefined>): Omit<GroundOptions, 'signal' | 'onToken' | 'onProgress'> {
  const o: GroundOptions = {};
  const maxTokens = intOption(values['max-tokens'] as string | undefined, 'max-tokens');
  const temperature = numberOption(values.temperature as string | undefined, 'temperature');
  const seed = intOption(values.seed as string | undefined, 'seed');
  if (maxTokens !== undefined) o.maxTokens = maxTokens;
  if (temperature !== undefined) o.temperature = temperature;
  if (seed !== undefined) o.seed = seed;
  if (values.ffmpeg) o.ffmpegPath = values.ffmpeg as string;
  if (values.ffprobe) o.ffprobePath = values.ffprobe as string;
  return o;
}

/** A one-shot call's options: turnOptions, the signal, and on a terminal the streamed answer and stage progress. */
function groundOptions(values: Record<string, string | boolean | undefined>, signal: AbortSignal, json: boolean): GroundOptions {
  const o: GroundOptions = { ...turnOptions(values), signal };
  // stream the answer to the terminal as it is generated
  if (!json && process.stdout.isTTY) o.onToken = (piece) => process.stdout.write(piece);
  if (!json) o.onProgress = stagePrinter();
  return o;
}

/**
 * The stages of a grounding call on stderr (decode, tower, prompt; the answer itself streams on
 * stdout): a bar rewritten in place on a terminal, one line per 10 % otherwise.
 */
function stagePrinter(): (p: GroundProgress) => void {
  let current = '';
  let printer: ReturnType<typeof progressPrinter> | undefined;
  return (p) => {
    if (p.stage === 'generate') {
      if (printer) printer.end();
      printer = undefined;
      current = 'generate';
      return;
    }
    const label = p.stage === 'encode' ? `${p.media} tower` : p.stage === 'decode' ? `decode ${p.media}` : 'prompt';
    if (label !== current) {
      printer?.end();
      printer = progressPrinter(label);
      current = label;
    }
    printer?.update(p.fraction);
  };
}

function printResult(r: GroundResult, json: boolean, streamed: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return;
  }
  process.stdout.write(streamed ? '\n' : `${r.text}\n`);
  const listed = describeResult(r);
  if (listed) process.stdout.write(`${listed}\n`);
}

/** The image / video / audio commands: load, decode, ask, print, draw. */
async function groundCommand(kind: 'image' | 'video' | 'audio', argv: string[]): Promise<void> {
  const options = kind === 'audio' ? { ...GROUND_OPTIONS, image: { type: 'string' as const } } : GROUND_OPTIONS;
  const { values, positionals } = parseWithPositionals(argv, options);
  if (values.help) {
    process.stdout.write(`${COMMANDS[kind].usage}\n`);
    return;
  }
  if (positionals.length !== 2) throw new UsageError(`expected <file> and "<prompt>", got ${positionals.length} argument(s)`);
  const [file, prompt] = positionals;
  const json = values.json === true;
  const sig = abortOnSigint();
  let model: Model | undefined;
  try {
    model = await cliModel(values, sig.signal, cliKvCache());
    const o = groundOptions(values, sig.signal, json);
    const streamed = o.onToken !== undefined;
    let r: GroundResult;
    if (kind === 'image') {
      r = await model.groundImage(file, prompt, o);
      printResult(r, json, streamed);
      if (values.draw) {
        await drawBoxes(file, r.boxes, values.draw as string);
        process.stderr.write(`drew ${r.boxes.length} box(es) on ${values.draw}\n`);
      }
    } else if (kind === 'video') {
      // decode once: the frames feed both the model and the picture
      const v = await decodeVideo(file, {
        signal: sig.signal,
        ...(o.ffmpegPath ? { ffmpegPath: o.ffmpegPath } : {}),
        ...(o.ffprobePath ? { ffprobePath: o.ffprobePath } : {}),
      });
      const frames = v.frames.map((data) => ({ data, width: v.size, height: v.size, channels: 3 as const }));
      r = await model.groundVideo({ frames, fps: v.fps, duration: v.duration }, prompt, o);
      r.video = { duration: v.duration, frameCount: v.frameCount, fps: v.fps, sampledFrames: v.indices, times: v.times };
      printResult(r, json, streamed);
      if (values.draw) {
        await drawVideoStrip(v, r.segments, v.duration, values.draw as string);
        process.stderr.write(`drew ${v.frames.length} frames and ${r.segments.length} span(s) on ${values.draw}\n`);
      }
    } else {
      const image = values.image as string | undefined;
      const a = await decodeAudio(file, {
        signal: sig.signal,
        ...(o.ffmpegPath ? { ffmpegPath: o.ffmpegPath } : {}),
        ...(o.ffprobePath ? { ffprobePath: o.ffprobePath } : {}),
      });
      r = await model.groundAudio({ samples: a.channels, sampleRate: a.sampleRate }, prompt, { ...o, ...(image ? { image } : {}) });
      printResult(r, json, streamed);
      if (values.draw) {
        if (image) await drawBoxes(image, r.boxes, values.draw as string);
        else await drawWaveform(a.channels, a.sampleRate, r.audio?.clips ?? [], values.draw as string);
        process.stderr.write(`drew ${image ? `${r.boxes.length} box(es)` : 'the waveform and its clips'} on ${values.draw}\n`);
      }
    }
  } finally {
    sig.dispose();
    await model?.dispose();
  }
}

/** The model options of `eval` (those of the grounding commands without the per-answer ones). */
const EVAL_MODEL_HELP = GROUND_HELP.split('\n')
  .filter((l) => !/--draw|--json|--max-tokens|--temperature|--seed|^\s+(also write|print the whole)/.test(l))
  .join('\n');

export const COMMANDS: Record<string, Command> = {
  convert: {
    summary: 'convert a GroundingGPT checkpoint (+ CLIP) into a model directory',
    usage: `groundinggpt convert --model <dir> --clip <dir> --out <dir> [options]

  --model <dir>     GroundingGPT checkpoint (config.json, tokenizer.model, pytorch_model*.bin or *.safetensors)
  --clip <dir>      openai/clip-vit-large-patch14-336 directory (pytorch_model.bin or model.safetensors)
  --out <dir>       output directory: llm.gguf, encoders.gguf, manifest.json
  --type <t>        ${TYPES_HELP}
  --threads <n>     threads for the LLM quantiser (default: all cores)
  --heads-<tower> <n>  override a head count (tower: clip, eva, qformer, vqformer, aqformer, imagebind)`,
    async run(argv) {
      const towers = ['clip', 'eva', 'qformer', 'vqformer', 'aqformer', 'imagebind'] as const;
      const { values } = parse(argv, {
        model: { type: 'string' },
        clip: { type: 'string' },
        out: { type: 'string' },
        type: { type: 'string' },
        threads: { type: 'string' },
        ...Object.fromEntries(towers.map((t) => [`heads-${t}`, { type: 'string' as const }])),
      });
      if (values.help) {
        process.stdout.write(`${COMMANDS.convert.usage}\n`);
        return;
      }
      for (const k of ['model', 'clip', 'out'] as const) if (!values[k]) throw new UsageError(`--${k} is required`);
      const heads: Record<string, number> = {};
      for (const t of towers) {
        const n = intOption(values[`heads-${t}`] as string | undefined, `heads-${t}`);
        if (n !== undefined) heads[t] = n;
      }
      const p = progressPrinter('convert');
      const sig = abortOnSigint();
      try {
        const r = await convert({
          model: values.model as string,
          clip: values.clip as string,
          out: values.out as string,
          type: values.type as 'f16' | undefined,
          threads: intOption(values.threads as string | undefined, 'threads'),
          overrides: { heads },
          signal: sig.signal,
          onProgress: (e) => p.update(e.fraction, e.stage === 'quantize' ? 'quantizing the LLM (libllama)' : (e.tensor ?? e.stage)),
        });
        p.end();
        process.stdout.write(`wrote ${r.llm} (${mib(r.bytes.llm)}), ${r.encoders} (${mib(r.bytes.encoders)}), ${r.manifest}\n`);
      } finally {
        sig.dispose();
      }
    },
  },
  synth: {
    summary: 'write a random-weight model directory (real 7B shapes or tiny) for benchmarks and tests',
    usage: `groundinggpt synth --preset tiny|7b --out <dir> [options]

  --preset <p>      7b (GroundingGPT-7B shapes, all towers) or tiny (the golden fixture's shapes)
  --out <dir>       output directory: llm.gguf, encoders.gguf, manifest.json
  --type <t>        ${TYPES_HELP}
  --seed <n>        PRNG seed (default 0; same seed, same bytes)`,
    async run(argv) {
      const { values } = parse(argv, { preset: { type: 'string' }, out: { type: 'string' }, type: { type: 'string' }, seed: { type: 'string' } });
      if (values.help) {
        process.stdout.write(`${COMMANDS.synth.usage}\n`);
        return;
      }
      if (!values.preset) throw new UsageError('--preset is required');
      if (!values.out) throw new UsageError('--out is required');
      const p = progressPrinter('synth');
      const sig = abortOnSigint();
      try {
        const r = await synth({
          preset: values.preset as 'tiny',
          out: values.out as string,
          type: values.type as 'f16' | undefined,
          seed: intOption(values.seed as string | undefined, 'seed'),
          signal: sig.signal,
          onProgress: (e) => p.update(e.fraction, e.tensor ?? e.stage),
        });
        p.end();
        process.stdout.write(`wrote ${r.llm}, ${r.encoders}, ${r.manifest}\n`);
      } finally {
        sig.dispose();
      }
    },
  },
  pull: {
    summary: 'download a model from the Hugging Face Hub and convert it into the model cache',
    usage: `groundinggpt pull [name] [options]

  name                 ${DEFAULT_MODEL} (default), optionally with :<type>; or hf:<owner>/<repo>[:<file-prefix>],
                       a repo holding converted <prefix>llm.gguf + <prefix>encoders.gguf (checked by loading them)
  --type <t>           q4_k_m (default) | q8_0 | f16 | f32
  --out <dir>          model directory (default: the model cache, $GROUNDINGGPT_HOME)
  --no-keep-source     delete the downloaded checkpoint from the Hugging Face cache after converting
  --json               progress events as JSON lines on stderr

  Uses $HF_ENDPOINT, $HF_TOKEN (gated repos), $HF_HUB_OFFLINE=1 (cache only), $HF_HOME / $HF_HUB_CACHE.
  An interrupted pull resumes where it stopped.`,
    async run(argv) {
      const { values, positionals } = parseWithPositionals(argv, {
        type: { type: 'string' },
        out: { type: 'string' },
        'no-keep-source': { type: 'boolean' },
        json: { type: 'boolean' },
      });
      if (values.help) {
        process.stdout.write(`${COMMANDS.pull.usage}\n`);
        return;
      }
      if (positionals.length > 1) throw new UsageError(`expected at most one model name, got ${positionals.length}`);
      const printer = pullPrinter(values.json === true);
      const sig = abortOnSigint();
      try {
        const r = await pull({
          name: positionals[0] ?? DEFAULT_MODEL,
          ...(values.type ? { type: values.type as 'f16' } : {}),
          ...(values.out ? { dir: values.out as string } : {}),
          keepSource: values['no-keep-source'] !== true,
          signal: sig.signal,
          onProgress: printer.onProgress,
        });
        printer.end();
        process.stdout.write(`${r.alreadyPulled ? 'already pulled' : `pulled (${gib(r.downloaded)} downloaded)`}: ${r.name}:${r.type} in ${r.dir}\n`);
      } finally {
        sig.dispose();
      }
    },
  },
  list: {
    summary: 'list the models in the model cache with their sizes',
    usage: `groundinggpt list

  The model cache is $GROUNDINGGPT_HOME, else the platform's cache folder + groundinggpt.`,
    async run(argv) {
      const { values } = parse(argv, {});
      if (values.help) {
        process.stdout.write(`${COMMANDS.list.usage}\n`);
        return;
      }
      const models = listModels();
      if (models.length === 0) {
        process.stdout.write(`no models in ${modelHome()} (groundinggpt pull downloads ${DEFAULT_MODEL})\n`);
        return;
      }
      const w = Math.max(...models.map((m) => m.id.length));
      for (const m of models) process.stdout.write(`${m.id.padEnd(w)}  ${gib(m.bytes).padStart(10)}  ${m.dir}${m.complete ? '' : '  (incomplete)'}\n`);
    },
  },
  rm: {
    summary: 'remove a model (name or name:type) from the model cache',
    usage: `groundinggpt rm <name[:type]>

  Removes the converted model; the Hugging Face cache (source checkpoint) is left alone.`,
    async run(argv) {
      const { values, positionals } = parseWithPositionals(argv, {});
      if (values.help) {
        process.stdout.write(`${COMMANDS.rm.usage}\n`);
        return;
      }
      if (positionals.length !== 1) throw new UsageError('expected one model name');
      const removed = removeModel(positionals[0]);
      if (removed.length === 0) throw new GroundingGPTError('MODEL_NOT_FOUND', `no model "${positionals[0]}" in ${modelHome()} (see groundinggpt list)`);
      for (const d of removed) process.stdout.write(`removed ${d}\n`);
    },
  },
  image: {
    summary: "ask about an image; boxes in the answer are mapped to the image's pixels",
    usage: `groundinggpt image <file> "<prompt>" [options]

${GROUND_HELP}`,
    run: (argv) => groundCommand('image', argv),
  },
  video: {
    summary: 'ask about a video (64 sampled frames); {s, e} spans become seconds',
    usage: `groundinggpt video <file> "<prompt>" [options]

  --draw <file>        a contact sheet of the sampled frames with the answered spans on a time axis
${GROUND_HELP}`,
    run: (argv) => groundCommand('video', argv),
  },
  audio: {
    summary: 'ask about a sound, alone or with an image (--image: where the sound comes from)',
    usage: `groundinggpt audio <file> "<prompt>" [options]

  --image <file>       an image to localise the sound in (boxes are mapped to it)
  --draw <file>        with --image: the boxes on the image; without: the waveform and its three clips
${GROUND_HELP}`,
    run: (argv) => groundCommand('audio', argv),
  },
  chat: {
    summary: 'a conversation in the terminal: streaming answers, media attached at any time (/help)',
    usage: `groundinggpt chat [--image f] [--video f] [--audio f] [options]

  --image/--video/--audio <file>   media to start with (or /image, /video, /audio later)
  In the chat: /image /video /audio <file>, /reset, /save <out.png>, /help, /quit;
  Ctrl-C stops an answer, Ctrl-D leaves.
${GROUND_HELP.split('\n')
  .filter((l) => !/--draw|--json|^\s+(also write|print the whole)/.test(l))
  .join('\n')}`,
    run: chatCommand,
  },
  serve: {
    summary: 'an OpenAI-compatible HTTP server: chat completions with grounding, /v1/ground, /metrics',
    usage: SERVE_USAGE,
    run: (argv) =>
      serveCommand(argv, {
        parse,
        loadModel: (values, signal, extra) => cliModel(values, signal, extra),
        usageError: (message) => new UsageError(message),
        defaultModel: DEFAULT_MODEL,
      }),
  },
  eval: {
    summary: 'run a grounding benchmark (RefCOCO/+/g, Charades-STA, VGG-SS) from its standard files: accuracy next to the paper',
    usage: evalUsage(EVAL_MODEL_HELP),
    run: (argv) =>
      evalCommand(argv, {
        parse: parseWithPositionals,
        loadModel: (values, signal, extra) => cliModel(values, signal, extra),
        usageError: (message) => new UsageError(message),
        progress: progressPrinter,
        modelHelp: EVAL_MODEL_HELP,
        modelOptions: GROUND_OPTIONS,
      }),
  },
};

/** groundinggpt chat: load the model, then the REPL of src/repl.ts. */
async function chatCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, { ...GROUND_OPTIONS, image: { type: 'string' }, video: { type: 'string' }, audio: { type: 'string' } });
  if (values.help) {
    process.stdout.write(`${COMMANDS.chat.usage}\n`);
    return;
  }
  const loading = abortOnSigint();
  let model: Model | undefined;
  try {
    model = await cliModel(values, loading.signal, cliKvCache());
  } finally {
    loading.dispose();
  }
  try {
    const media: Record<string, string> = {};
    for (const k of ['image', 'video', 'audio'] as const) if (typeof values[k] === 'string') media[k] = values[k] as string;
    await runChat(model, { media, turn: turnOptions(values) });
  } finally {
    await model.dispose();
  }
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: groundinggpt <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n'groundinggpt help <command>' (or '<command> --help') shows a command's options.\n`;
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === 'help' && rest[0] !== undefined) {
    const c = COMMANDS[rest[0]];
    if (!c) {
      process.stderr.write(`groundinggpt help: unknown command "${rest[0]}"\n\n${help()}`);
      return 2;
    }
    process.stdout.write(`${c.usage}\n`);
    return 0;
  }
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(help());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${toolVersion()}\n`);
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`groundinggpt: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  try {
    await cmd.run(rest);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`groundinggpt ${name}: ${err.message}\n\n${cmd.usage}\n`);
      return 2;
    }
    const e = err as Error;
    const code = err instanceof GroundingGPTError ? ` [${err.code}]` : '';
    process.stderr.write(`\ngroundinggpt ${name}: error${code}: ${e.message}\n`);
    if (!(err instanceof GroundingGPTError) && e.stack) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
