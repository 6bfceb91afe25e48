/**
 * The CLI's progress output on stderr: bars drawn by cli-progress on a terminal, plain lines
 * otherwise (a log file or a pipe gets one line per 10 % and no control characters), nothing with
 * --json. Used by src/cli.ts for convert, synth, pull (per file and overall) and the stages of the
 * image / video / audio commands, and lent to src/eval/command.ts.
 */
import { MultiBar, Presets, SingleBar } from 'cli-progress';
import type { GroundProgress } from './types';
import type { PullProgress } from './pull/index';
import { durationText as seconds } from './util/duration';

/** 'bar' on a terminal, 'lines' off one, 'none' with --json. */
export type ProgressMode = 'bar' | 'lines' | 'none';

/** Where progress goes: process.stderr, or a stream the tests give. */
export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** One task's progress: a fraction 0..1 and a short note. */
export interface Progress {
  update(fraction: number, detail?: string): void;
  end(): void;
}

export function progressMode(json: boolean, stream: ProgressStream = process.stderr): ProgressMode {
  return json ? 'none' : stream.isTTY ? 'bar' : 'lines';
}

/** Bars still drawing: cli-progress redraws on a timer, which would keep the process alive. */
const active = new Set<{ stop(): void }>();

/** Stops every bar still drawing (src/cli.ts's main, after a command ends, also by an error). */
export function stopAllBars(): void {
  for (const b of [...active]) b.stop();
  active.clear();
}

const BAR_OPTIONS = { hideCursor: false, clearOnComplete: false, fps: 8, barsize: 24, autopadding: true } as const;

/** Bytes as MiB or GiB. */
export function bytesText(n: number): string {
  return n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(2)} GiB` : `${(n / 1048576).toFixed(1)} MiB`;
}

/** A progress bar (terminal) or a line per 10 % (elsewhere) for one labelled task. */
export function progressBar(label: string, mode: ProgressMode = progressMode(false), stream: ProgressStream = process.stderr): Progress {
  if (mode === 'none') return { update() {}, end() {} };
  const t0 = Date.now();
  if (mode === 'lines') {
    let lastBucket = -1;
    return {
      update(fraction, detail) {
        const pct = Math.max(0, Math.min(100, Math.floor(fraction * 100)));
        if (Math.floor(pct / 10) === lastBucket) return;
        lastBucket = Math.floor(pct / 10);
        stream.write(`${label} ${String(pct).padStart(3)}%  ${seconds(Date.now() - t0)}${detail ? `  ${detail}` : ''}\n`);
      },
      end() {},
    };
  }
  const bar = new SingleBar({ ...BAR_OPTIONS, stream, format: `${label} {bar} {percentage}% | {duration_formatted} | {detail}` }, Presets.shades_classic);
  let started = false;
  return {
    update(fraction, detail) {
      const value = Math.round(Math.max(0, Math.min(1, fraction)) * 1000);
      if (!started) {
        bar.start(1000, value, { detail: detail ?? '' });
        active.add(bar);
        started = true;
      } else bar.update(value, { detail: detail ?? '' });
    },
    end() {
      if (started) bar.stop();
      active.delete(bar);
      started = false;
    },
  };
}

/** A bar's label per stage of a grounding call (every stage but generation, whose text streams). */
const STAGE_LABEL: Record<Exclude<GroundProgress['stage'], 'generate'>, (media: string | undefined) => string> = {
  decode: (m) => `decode ${m}`,
  load: (m) => `load ${m} tower`,
  encode: (m) => `${m} tower`,
  prompt: () => 'prompt',
};

/**
 * The stages of a grounding call (decode, reading a tower's weights, tower, prompt; the answer itself streams on stdout):
 * one bar or set of lines per stage, closed when generation starts; `end` closes it too (the
 * first streamed token may come before the 'generate' event).
 */
export function stageProgress(mode: ProgressMode, stream: ProgressStream = process.stderr): { onProgress(p: GroundProgress): void; end(): void } {
  let current = '';
  let bar: Progress | undefined;
  const end = () => {
    bar?.end();
    bar = undefined;
  };
  const onProgress = (p: GroundProgress) => {
    if (mode === 'none') return;
    if (p.stage === 'generate') {
      end();
      current = 'generate';
      return;
    }
    const label = STAGE_LABEL[p.stage](p.media);
    if (label !== current) {
      bar?.end();
      bar = progressBar(label, mode, stream);
      current = label;
    }
    bar?.update(p.fraction);
  };
  return { onProgress, end };
}

/** A file's download speed, measured from its first event. */
interface FileState {
  t0: number;
  b0: number;
  bar?: SingleBar;
  done: boolean;
}

/** Payload of a download bar: rate and time left ({left}: cli-progress has its own {eta}). */
function rateEta(bytes: number, total: number, rate: number | undefined, eta: number | undefined): { rate: string; left: string } {
  return {
    rate: rate ? `${bytesText(rate)}/s` : '',
    left: bytes >= total ? 'done' : eta !== undefined && Number.isFinite(eta) ? `ETA ${seconds(eta * 1000)}` : '',
  };
}

/**
 * pull()'s events on stderr: the plan (what, how big, where, licences), then per file and overall
 * bytes, rate and time left, and the conversion (which may start while files still arrive): bars
 * on a terminal, lines elsewhere. With --json every event is a JSON line instead.
 */
export function pullProgress(json: boolean, stream: ProgressStream = process.stderr): { onProgress(p: PullProgress): void; end(): void } {
  const mode = progressMode(false, stream);
  const out = (s: string) => stream.write(s);
  const files = new Map<string, FileState>();
  let multi: MultiBar | undefined;
  let overall: SingleBar | undefined;
  let convertBar: SingleBar | undefined;
  let downloadLines: Progress | undefined;
  let convert: Progress | undefined;
  const stop = () => {
    if (multi) {
      multi.stop();
      active.delete(multi);
    }
    multi = undefined;
    overall = undefined;
    convertBar = undefined;
    convert?.end();
    convert = undefined;
  };
  const bars = (): MultiBar => {
    if (!multi) {
      multi = new MultiBar({ ...BAR_OPTIONS, stream, format: '{name} {bar} {percentage}% | {done} / {size} | {rate} | {left}' }, Presets.shades_classic);
      active.add(multi);
    }
    return multi;
  };
  const fileLine = (name: string, f: FileState, bytes: number, total: number) => {
    const secs = (Date.now() - f.t0) / 1000;
    const rate = secs >= 1 ? (bytes - f.b0) / secs : undefined;
    const eta = rate ? (total - bytes) / rate : undefined;
    return { name, done: bytesText(bytes), size: bytesText(total), ...rateEta(bytes, total, rate, eta) };
  };
  return {
    onProgress(p) {
      if (json) {
        out(`${JSON.stringify(p)}\n`);
        return;
      }
      if (p.stage === 'plan' && p.plan) {
        const pl = p.plan;
        const cached = pl.totalBytes - pl.downloadBytes;
        out(
          `pulling ${pl.name}:${pl.type} from ${pl.repos.map((r) => `${r.repo}@${r.revision}${r.revision === r.commit ? '' : ` (${r.commit.slice(0, 12)})`}`).join(' + ')}\n`,
        );
        out(
          `  ${pl.files.length} files, ${bytesText(pl.totalBytes)}: ${bytesText(pl.downloadBytes)} to download${cached ? `, ${bytesText(cached)} already in the Hugging Face cache` : ''}\n`,
        );
        out(`  source files: ${pl.hfCache}\n  model directory: ${pl.dir}\n`);
        out(`  the weights are not ours; their licences:\n${pl.licences.map((l) => `    ${l.part}: ${l.licence}${l.note ? ` (${l.note})` : ''}\n`).join('')}`);
      } else if (p.stage === 'download' && p.total) {
        const bytes = p.bytes ?? 0;
        const all = { done: bytesText(bytes), size: bytesText(p.total), ...rateEta(bytes, p.total, p.rate, p.eta) };
        let f: FileState | undefined;
        if (p.file && p.fileTotal) {
          f = files.get(p.file);
          if (!f) {
            f = { t0: Date.now(), b0: p.fileBytes ?? 0, done: false };
            files.set(p.file, f);
          }
        }
        if (mode === 'bar') {
          const m = bars();
          overall ??= m.create(p.total, bytes, { name: 'all files', ...all });
          overall.setTotal(p.total);
          overall.update(bytes, all);
          if (f && p.file && p.fileTotal) {
            const payload = fileLine(p.file, f, p.fileBytes ?? 0, p.fileTotal);
            if (!f.bar) f.bar = m.create(p.fileTotal, p.fileBytes ?? 0, payload);
            else f.bar.update(p.fileBytes ?? 0, payload);
          }
        } else {
          downloadLines ??= progressBar('download', 'lines', stream);
          downloadLines.update(bytes / p.total, `${all.done} / ${all.size}  ${all.rate}  ${all.left}`.trim());
          if (f && p.file && p.fileTotal && !f.done && (p.fileBytes ?? 0) >= p.fileTotal) {
            f.done = true;
            const l = fileLine(p.file, f, p.fileTotal, p.fileTotal);
            out(`downloaded ${p.file} (${l.size}${l.rate ? `, ${l.rate}` : ''}, ${seconds(Date.now() - f.t0)})\n`);
          }
        }
      } else if (p.stage === 'convert' && p.convert) {
        const detail = p.convert.stage === 'quantize' ? 'quantizing the LLM' : (p.convert.tensor ?? p.convert.stage);
        const value = Math.round(Math.max(0, Math.min(1, p.convert.fraction)) * 1000);
        if (mode === 'bar' && multi) {
          // files still arriving: the conversion is one more bar under them
          convertBar ??= multi.create(1000, 0, { name: 'convert', detail }, { format: '{name} {bar} {percentage}% | {detail}' });
          convertBar.update(value, { detail });
        } else {
          convert ??= progressBar('convert', mode, stream);
          convert.update(p.convert.fraction, detail);
        }
      } else if (p.stage === 'done') {
        stop();
      }
      if ((p.stage === 'retry' || p.stage === 'wait') && p.message) {
        if (multi) {
          multi.log(`${p.message}\n`);
          multi.update(); // draws the message above the bars now, not at the next redraw
        } else out(`${p.message}\n`);
      }
    },
    end: stop,
  };
}
