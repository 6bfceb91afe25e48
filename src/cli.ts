#!/usr/bin/env node
/**
 * The `groundinggpt` command. Subcommands live in the COMMANDS table (name, one-line summary,
 * usage text, run); `groundinggpt help` lists them. Exit codes: 0 success, 1 failure, 2 usage error.
 *
 *   groundinggpt convert --model <dir> --clip <dir> --out <dir> [--type f32|f16|q8_0|q4_k_m]
 *   groundinggpt synth --preset tiny|7b --out <dir> [--type ...] [--seed N]
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GroundingGPTError } from './errors';
import { toolVersion } from './convert/common';
import { convert } from './convert/index';
import { synth } from './convert/synth';

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
          onProgress: (e) => p.update(e.fraction, e.stage === 'quantize' ? 'quantizing the LLM (libllama)' : e.tensor ?? e.stage),
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
};

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: groundinggpt <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n'groundinggpt <command> --help' shows a command's options.\n`;
}

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
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
