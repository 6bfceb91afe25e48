/**
 * The command-line options, in one table: each option's parser type, its argument's name and its
 * help text. The commands of src/cli.ts (and src/serve/command.ts, src/eval/command.ts through it)
 * take their parseArgs configuration and their help lines from here, so an option is described
 * once and no help text lists it twice.
 */
import type { ParseArgsConfig } from 'node:util';

/** One option: `arg` names its value in the help (string options); `help` may span lines (\n). */
export interface OptionSpec {
  type: 'string' | 'boolean';
  arg?: string;
  help: string;
}

/** Every option of the grounding, chat, eval and serve commands (the model-loading ones below). */
export const OPTION_TABLE = {
  model: {
    type: 'string',
    arg: 'dir|name',
    help:
      'model directory from convert/synth, or a model name such as\n' +
      'groundinggpt-7b:q8_0 (default: $GROUNDINGGPT_MODEL, else the default model,\n' +
      'pulled from the Hugging Face Hub on first use)',
  },
  'no-pull': { type: 'boolean', help: 'never download: fail when the named model is not in the model cache' },
  draw: { type: 'string', arg: 'file', help: 'also write a picture of the result (.png, .jpg, .webp)' },
  'max-frames': {
    type: 'string',
    arg: 'n',
    help: 'video frames to sample, 1-64 (default 64, as upstream): fewer frames answer\nsooner on a CPU; spans are still in seconds',
  },
  json: { type: 'boolean', help: 'print the whole result as JSON instead of the answer (no progress)' },
  'max-tokens': { type: 'string', arg: 'n', help: 'most tokens to generate (default 512)' },
  temperature: { type: 'string', arg: 't', help: '0 = greedy (default); upstream samples at 0.2' },
  seed: { type: 'string', arg: 'n', help: 'sampling seed' },
  'no-kv-cache': {
    type: 'boolean',
    help:
      "do not keep image/video prompts' KV state on disk (default: kept under\n" +
      "the model cache's kv-cache folder, 4 GiB at most, so that asking about the\n" +
      'same picture again skips the tower and most of the prefill)',
  },
  threads: { type: 'string', arg: 'n', help: 'CPU threads (default: physical cores)' },
  'gpu-layers': {
    type: 'string',
    arg: 'n',
    help: 'LLM layers on the GPU, -1 = all (default: all when the build has a GPU\nbackend: groundinggpt build --cuda)',
  },
  rpc: {
    type: 'string',
    arg: 'h:p,...',
    help: 'run the LLM\'s layers on ggml-rpc-server hosts (README "Several machines\n(RPC)"; no authentication: trusted networks or an SSH tunnel only)',
  },
  'tower-device': { type: 'string', arg: 'd', help: 'where the towers run: local (default) or rpc:N (the N-th RPC device)' },
  'context-size': { type: 'string', arg: 'n', help: 'context size in tokens (default 2048)' },
  'tower-matmul': { type: 'string', arg: 'm', help: "the towers' CPU matmuls: auto (default), ggml, int8 (experimental)" },
  ffmpeg: { type: 'string', arg: 'path', help: 'ffmpeg to use (default: $FFMPEG_PATH, ffmpeg-static, ffmpeg on PATH)' },
  ffprobe: { type: 'string', arg: 'path', help: 'ffprobe to use (optional: without one ffmpeg probes)' },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTION_TABLE;

/** The options that load a model: every command that loads one takes them (cliModel in src/cli.ts reads them). */
export const LOAD_OPTION_NAMES = ['threads', 'gpu-layers', 'rpc', 'tower-device', 'context-size', 'tower-matmul', 'ffmpeg', 'ffprobe'] as const;

/** The grounding commands' options (image, video, audio), in help order. */
export const GROUND_OPTION_NAMES = [
  'model',
  'no-pull',
  'draw',
  'json',
  'max-tokens',
  'temperature',
  'seed',
  'threads',
  'gpu-layers',
  'rpc',
  'tower-device',
  'context-size',
  'tower-matmul',
  'no-kv-cache',
  'ffmpeg',
  'ffprobe',
] as const satisfies readonly OptionName[];

/** parseArgs' `options` object. */
export type ParseOptions = NonNullable<ParseArgsConfig['options']>;

/** parseArgs' `options` for some entries of a table. */
export function parseConfig(names: readonly string[], table: Record<string, OptionSpec> = OPTION_TABLE): ParseOptions {
  const out: ParseOptions = {};
  for (const n of names) {
    const spec = table[n];
    if (!spec) throw new Error(`cli-options: no option "${n}"`);
    out[n] = { type: spec.type };
  }
  return out;
}

/** The model-loading options as parseArgs configuration (src/serve/command.ts spreads it). */
export const MODEL_LOAD_OPTIONS: ParseOptions = parseConfig(LOAD_OPTION_NAMES);

/** The column where help texts start (a command whose own options are longer passes its own). */
const HELP_COLUMN = 23;

/**
 * Help lines for some options, in the given order: `  --name <arg>   text`, continuation lines
 * indented to the text's column. `table` adds or replaces entries (a command's own options, or
 * its own wording of a shared one: then the shared one is not listed again).
 */
export function optionsHelp(names: readonly string[], table: Record<string, OptionSpec> = {}, column = HELP_COLUMN): string {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new Error(`cli-options: option "${n}" listed twice`);
    seen.add(n);
    const spec = table[n] ?? (OPTION_TABLE as Record<string, OptionSpec>)[n];
    if (!spec) throw new Error(`cli-options: no option "${n}"`);
    const head = `  --${n}${spec.arg ? ` <${spec.arg}>` : ''}`;
    const [first, ...rest] = spec.help.split('\n');
    lines.push(head.length < column - 1 ? `${head.padEnd(column)}${first}` : `${head}  ${first}`);
    for (const r of rest) lines.push(`${' '.repeat(column)}${r}`);
  }
  return lines.join('\n');
}
