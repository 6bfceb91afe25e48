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
 *   groundinggpt build [--cuda] [--cuda-architectures list] [--jobs n]
 * image/video/audio without --model and $GROUNDINGGPT_MODEL use the default model name and pull it
 * on first use (--no-pull refuses). Options and their help texts: src/cli-options.ts; progress
 * output: src/cli-bars.ts.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { bytesText, progressBar, progressMode, pullProgress, stageProgress, stopAllBars } from './cli-bars';
import { GROUND_OPTION_NAMES, type OptionSpec, optionsHelp, parseConfig } from './cli-options';
import { GroundingGPTError } from './errors';
import { toolVersion } from './convert/common';
import { convert } from './convert/index';
import { synth } from './convert/synth';
import { loadModel } from './load';
import { describeResult, runChat } from './repl';
import type { Model } from './model';
import { TOWER_MATMULS, type GroundOptions, type LoadModelOptions, type GroundResult, type TowerMatmul } from './types';
import { decodeAudio } from './media/audio';
import { drawBoxes, drawVideoStrip, drawWaveform } from './media/draw';
import { decodeVideo } from './media/video';
import { DEFAULT_MODEL, listModels, pull, removeModel, resolveModelName } from './pull/index';
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

/** Ctrl-C aborts the running operation cleanly (temporary files removed). */
function abortOnSigint(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const onSig = () => ac.abort();
  process.once('SIGINT', onSig);
  return { signal: ac.signal, dispose: () => process.off('SIGINT', onSig) };
}

const TYPES_HELP = 'f32 | f16 (default) | q8_0 | q4_k_m';

const GROUND_OPTIONS = parseConfig(GROUND_OPTION_NAMES);

/** The grounding commands' help; `table` holds a command's own options or wording. */
function groundHelp(names: readonly string[] = GROUND_OPTION_NAMES, table: Record<string, OptionSpec> = {}): string {
  return optionsHelp(names, table);
}

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

const gib = bytesText;

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
  const printer = pullProgress(false);
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
  if (json) return o;
  const stages = stageProgress(progressMode(json));
  o.onProgress = stages.onProgress;
  // stream the answer to the terminal as it is generated, below the finished stage bars
  if (process.stdout.isTTY)
    o.onToken = (piece) => {
      stages.end();
      process.stdout.write(piece);
    };
  return o;
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
  const options =
    kind === 'audio'
      ? { ...GROUND_OPTIONS, image: { type: 'string' as const } }
      : kind === 'video'
        ? { ...GROUND_OPTIONS, ...parseConfig(['max-frames']) }
        : GROUND_OPTIONS;
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
    if (kind === 'image') {
      const r = await model.groundImage(file, prompt, o);
      printResult(r, json, streamed);
      if (values.draw) {
        await drawBoxes(file, r.boxes, values.draw as string);
        process.stderr.write(`drew ${r.boxes.length} box(es) on ${values.draw}\n`);
      }
    } else if (kind === 'video') {
      // decode once: the frames feed both the model and the picture
      const maxFrames = intOption(values['max-frames'] as string | undefined, 'max-frames');
      if (maxFrames !== undefined && (maxFrames < 1 || maxFrames > 64)) throw new UsageError(`--max-frames must be 1 to 64, got ${maxFrames}`);
      const v = await decodeVideo(file, {
        signal: sig.signal,
        ...(maxFrames !== undefined ? { maxFrames } : {}),
        ...(o.ffmpegPath ? { ffmpegPath: o.ffmpegPath } : {}),
        ...(o.ffprobePath ? { ffprobePath: o.ffprobePath } : {}),
      });
      const frames = v.frames.map((data) => ({ data, width: v.size, height: v.size, channels: 3 as const }));
      const r = await model.groundVideo({ frames, fps: v.fps, duration: v.duration }, prompt, o);
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
      const r = await model.groundAudio({ samples: a.channels, sampleRate: a.sampleRate }, prompt, { ...o, ...(image ? { image } : {}) });
      printResult(r, json, streamed);
      if (values.draw) {
        if (image) await drawBoxes(image, r.boxes, values.draw as string);
        else await drawWaveform(a.channels, a.sampleRate, r.audio.clips, values.draw as string);
        process.stderr.write(`drew ${image ? `${r.boxes.length} box(es)` : 'the waveform and its clips'} on ${values.draw}\n`);
      }
    }
  } finally {
    sig.dispose();
    await model?.dispose();
  }
}

/** The model options of `eval` (those of the grounding commands without the per-answer ones, which eval has its own of). */
const EVAL_MODEL_HELP = groundHelp(GROUND_OPTION_NAMES.filter((n) => !['draw', 'json', 'max-tokens', 'temperature', 'seed'].includes(n)));

const TOWERS = ['clip', 'eva', 'qformer', 'vqformer', 'aqformer', 'imagebind'] as const;
const CONVERT_TABLE: Record<string, OptionSpec> = {
  model: { type: 'string', arg: 'dir', help: 'GroundingGPT checkpoint (config.json, tokenizer.model, pytorch_model*.bin or *.safetensors)' },
  clip: { type: 'string', arg: 'dir', help: 'openai/clip-vit-large-patch14-336 directory (pytorch_model.bin or model.safetensors)' },
  out: { type: 'string', arg: 'dir', help: 'output directory: llm.gguf, encoders.gguf, manifest.json' },
  type: { type: 'string', arg: 't', help: TYPES_HELP },
  threads: { type: 'string', arg: 'n', help: 'threads for the LLM quantiser (default: all cores)' },
  'heads-<tower>': { type: 'string', arg: 'n', help: `override a head count (tower: ${TOWERS.join(', ')})` },
  ...Object.fromEntries(TOWERS.map((t) => [`heads-${t}`, { type: 'string' as const, help: '' }])),
};
const SYNTH_TABLE: Record<string, OptionSpec> = {
  preset: { type: 'string', arg: 'p', help: "7b (GroundingGPT-7B shapes, all towers) or tiny (the golden fixture's shapes)" },
  out: CONVERT_TABLE.out,
  type: CONVERT_TABLE.type,
  seed: { type: 'string', arg: 'n', help: 'PRNG seed (default 0; same seed, same bytes)' },
};
const PULL_TABLE: Record<string, OptionSpec> = {
  type: { type: 'string', arg: 't', help: 'q4_k_m (default) | q8_0 | f16 | f32' },
  out: { type: 'string', arg: 'dir', help: 'model directory (default: the model cache, $GROUNDINGGPT_HOME)' },
  'no-keep-source': { type: 'boolean', help: 'delete the downloaded checkpoint from the Hugging Face cache after converting' },
  json: { type: 'boolean', help: 'progress events as JSON lines on stderr (no bars)' },
};
const BUILD_TABLE: Record<string, OptionSpec> = {
  cuda: { type: 'boolean', help: 'with ggml\'s CUDA backend (needs the CUDA toolkit: nvcc, cuBLAS;\nREADME "Building from source")' },
  'cuda-architectures': {
    type: 'string',
    arg: 'list',
    help: 'GPU architectures to compile for, e.g. "86;89" (default: the GPU present,\nelse 75-virtual;80-virtual;86-real;89-real;90-real: README\n"Building from source")',
  },
  jobs: { type: 'string', arg: 'n', help: 'parallel compile jobs (default: all cores)' },
};
const MEDIA_START: Record<string, OptionSpec> = Object.fromEntries(
  (['image', 'video', 'audio'] as const).map((k) => [
    k,
    { type: 'string', arg: 'file', help: `${{ image: 'an image', video: 'a video', audio: 'a sound' }[k]} to start with (or /${k} later)` },
  ]),
);

/** groundinggpt build: scripts/build.mjs of the installed package (docs/BUILDING.md, "From source"). */
async function buildCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, parseConfig(Object.keys(BUILD_TABLE), BUILD_TABLE));
  if (values.help) {
    process.stdout.write(`${COMMANDS.build.usage}\n`);
    return;
  }
  const jobs = intOption(values.jobs as string | undefined, 'jobs');
  const arches = values['cuda-architectures'] as string | undefined;
  if (arches !== undefined && !values.cuda) throw new UsageError('--cuda-architectures needs --cuda');
  if (arches !== undefined && !/^[\w;-]+$/.test(arches)) throw new UsageError(`--cuda-architectures takes a list such as "86;89" (got "${arches}")`);
  const packageRoot = path.resolve(__dirname, '..');
  const script = path.join(packageRoot, 'scripts', 'build.mjs');
  if (!fs.existsSync(script)) throw new GroundingGPTError('BUILD_FAILED', `${script} is missing: this copy of groundinggpt cannot build itself`);
  const args = [
    script,
    ...(values.cuda ? ['--cuda'] : []),
    ...(jobs ? ['--jobs', String(jobs)] : []),
    ...(arches ? [`--CDCMAKE_CUDA_ARCHITECTURES=${arches}`] : []),
  ];
  process.stderr.write(`building the addon in ${packageRoot} (node ${args.map((a) => path.relative(packageRoot, a) || a).join(' ')})\n`);
  const r = spawnSync(process.execPath, args, { cwd: packageRoot, stdio: 'inherit' });
  if (r.error) throw new GroundingGPTError('BUILD_FAILED', `the build could not start: ${r.error.message}`);
  if (r.status !== 0) throw new GroundingGPTError('BUILD_FAILED', `the build failed (exit ${r.status ?? r.signal}); its output is above`);
  process.stdout.write(`built ${path.join(packageRoot, 'build', 'Release', 'groundinggpt.node')}: it is loaded instead of the prebuilt one\n`);
}

export const COMMANDS: Record<string, Command> = {
  convert: {
    summary: 'convert a GroundingGPT checkpoint (+ CLIP) into a model directory',
    usage: `groundinggpt convert --model <dir> --clip <dir> --out <dir> [options]

${optionsHelp(['model', 'clip', 'out', 'type', 'threads', 'heads-<tower>'], CONVERT_TABLE)}`,
    async run(argv) {
      const towers = TOWERS;
      const { values } = parse(argv, parseConfig(['model', 'clip', 'out', 'type', 'threads', ...towers.map((t) => `heads-${t}`)], CONVERT_TABLE));
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
      const p = progressBar('convert');
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

${optionsHelp(Object.keys(SYNTH_TABLE), SYNTH_TABLE)}`,
    async run(argv) {
      const { values } = parse(argv, parseConfig(Object.keys(SYNTH_TABLE), SYNTH_TABLE));
      if (values.help) {
        process.stdout.write(`${COMMANDS.synth.usage}\n`);
        return;
      }
      if (!values.preset) throw new UsageError('--preset is required');
      if (!values.out) throw new UsageError('--out is required');
      const p = progressBar('synth');
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
${optionsHelp(Object.keys(PULL_TABLE), PULL_TABLE)}

  Uses $HF_ENDPOINT, $HF_TOKEN (gated repos), $HF_HUB_OFFLINE=1 (cache only), $HF_HOME / $HF_HUB_CACHE.
  An interrupted pull resumes where it stopped.`,
    async run(argv) {
      const { values, positionals } = parseWithPositionals(argv, parseConfig(Object.keys(PULL_TABLE), PULL_TABLE));
      if (values.help) {
        process.stdout.write(`${COMMANDS.pull.usage}\n`);
        return;
      }
      if (positionals.length > 1) throw new UsageError(`expected at most one model name, got ${positionals.length}`);
      const printer = pullProgress(values.json === true);
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

${groundHelp()}`,
    run: (argv) => groundCommand('image', argv),
  },
  video: {
    summary: 'ask about a video (64 sampled frames, --max-frames); {s, e} spans become seconds',
    usage: `groundinggpt video <file> "<prompt>" [options]

${groundHelp(
  GROUND_OPTION_NAMES.flatMap((n) => (n === 'draw' ? [n, 'max-frames'] : [n])),
  { draw: { type: 'string', arg: 'file', help: 'also write a contact sheet of the sampled frames with the answered spans\non a time axis' } },
)}`,
    run: (argv) => groundCommand('video', argv),
  },
  audio: {
    summary: 'ask about a sound, alone or with an image (--image: where the sound comes from)',
    usage: `groundinggpt audio <file> "<prompt>" [options]

${groundHelp(['image', ...GROUND_OPTION_NAMES], {
  image: { type: 'string', arg: 'file', help: 'an image to localise the sound in (boxes are mapped to it)' },
  draw: { type: 'string', arg: 'file', help: 'also write a picture: with --image the boxes on the image; without, the\nwaveform and its three clips' },
})}`,
    run: (argv) => groundCommand('audio', argv),
  },
  chat: {
    summary: 'a conversation in the terminal: streaming answers, media attached at any time (/help)',
    usage: `groundinggpt chat [--image f] [--video f] [--audio f] [options]

  In the chat: /image /video /audio <file>, /reset, /save <out.png>, /help, /quit;
  Ctrl-C stops an answer, Ctrl-D leaves.

${groundHelp(['image', 'video', 'audio', ...GROUND_OPTION_NAMES.filter((n) => n !== 'draw' && n !== 'json')], MEDIA_START)}`,
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
        progress: (label: string) => progressBar(label),
        modelHelp: EVAL_MODEL_HELP,
        modelOptions: GROUND_OPTIONS,
      }),
  },
  build: {
    summary: 'compile the native addon from source for this machine (e.g. with CUDA), in the cache folder',
    usage: `groundinggpt build [options]

  Compiles llama.cpp and the addon for this machine (-march=native) and puts groundinggpt.node in
  this package's build/Release, where it is loaded instead of the prebuilt one. The llama.cpp
  source and the build tree stay in the cache folder ($GROUNDINGGPT_CACHE_DIR, else the OS cache
  folder + groundinggpt), not in node_modules. Needs cmake, a C++17 compiler and git; the first
  build takes a while (tens of minutes on 2 cores), later ones are incremental.

${optionsHelp(Object.keys(BUILD_TABLE), BUILD_TABLE)}`,
    run: buildCommand,
  },
};

/** groundinggpt chat: load the model, then the REPL of src/repl.ts. */
async function chatCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, { ...GROUND_OPTIONS, ...parseConfig(Object.keys(MEDIA_START), MEDIA_START) });
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
    stopAllBars();
    if (err instanceof UsageError) {
      process.stderr.write(`groundinggpt ${name}: ${err.message}\n\n${cmd.usage}\n`);
      return 2;
    }
    const e = err as Error;
    const code = err instanceof GroundingGPTError ? ` [${err.code}]` : '';
    process.stderr.write(`\ngroundinggpt ${name}: error${code}: ${e.message}\n`);
    if (!(err instanceof GroundingGPTError) && e.stack) process.stderr.write(`${e.stack}\n`);
    return 1;
  } finally {
    stopAllBars();
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
