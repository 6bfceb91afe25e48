/**
 * `groundinggpt chat`: a multi-turn conversation in the terminal, like upstream's
 * lego/serve/cli.py. The answer streams as it is generated, box and span literals highlighted on a
 * colour terminal, then listed in pixels and seconds. Media can be attached at any time (they join
 * the conversation's first turn, where GroundingGPT's template puts them: docs/COMPUTATION.md §5);
 * Ctrl-C stops an answer and keeps the conversation, Ctrl-D (or /quit) leaves.
 *
 * Commands: /image <file>, /video <file>, /audio <file>, /reset, /save <out.png>, /help, /quit.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import type { Chat } from './chat';
import { AbortError, GroundingGPTError } from './errors';
import { decodeAudio } from './media/audio';
import { drawBoxes, drawVideoStrip, drawWaveform } from './media/draw';
import { decodeVideo } from './media/video';
import type { Model } from './model';
import type { ChatTurn, MediaKind } from './prompt';
import type { ChatMedia, GroundOptions, GroundResult } from './types';

export interface ReplOptions {
  /** Media attached from the start (file paths). */
  media?: Partial<Record<MediaKind, string>>;
  /** Options of every turn (maxTokens, temperature, seed, ffmpeg paths). */
  turn?: Omit<GroundOptions, 'signal' | 'onToken'>;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Colour the box and span literals (default: output is a TTY and NO_COLOR is not set). */
  color?: boolean;
}

const HELP = `commands:
  /image <file>   attach an image (boxes in answers are mapped to it)
  /video <file>   attach a video (time spans become seconds)
  /audio <file>   attach a sound
  /reset          forget the conversation (the media stay attached)
  /save <file>    draw the last answer's boxes (image) or spans (video) or clips (sound) to a picture
  /help           this list
  /quit           leave (or Ctrl-D)
Ctrl-C stops an answer; the conversation goes on. Media join the conversation's first turn, where
GroundingGPT's prompt template puts them, so attaching one re-reads the conversation once.`;

const ESC = '\x1b[';
const BOX_COLOR = `${ESC}1;36m`;
const SPAN_COLOR = `${ESC}1;33m`;
const RESET = `${ESC}0m`;

/** Colours `[...]` and `{...}` in streamed text, across pieces (a literal may span several tokens). */
export function highlighter(color: boolean): (piece: string) => string {
  let open: '[' | '{' | undefined;
  return (piece) => {
    if (!color) return piece;
    let out = '';
    for (const ch of piece) {
      if (!open && (ch === '[' || ch === '{')) {
        open = ch;
        out += (ch === '[' ? BOX_COLOR : SPAN_COLOR) + ch;
      } else if ((open === '[' && ch === ']') || (open === '{' && ch === '}')) {
        open = undefined;
        out += ch + RESET;
      } else {
        out += ch;
      }
    }
    return out;
  };
}

/** The boxes and spans of an answer, one per line, in pixels and seconds. */
export function describeResult(r: GroundResult): string {
  const lines: string[] = [];
  for (const b of r.boxes) {
    const { x1, y1, x2, y2 } = b.box;
    lines.push(
      `  box ${b.index}: ${b.phrase || '(no phrase)'}  [${[x1, y1, x2, y2].map((v) => v.toFixed(1)).join(', ')}] px${b.flags ? `  (${b.flags.join(', ')})` : ''}`,
    );
  }
  for (const s of r.segments) {
    lines.push(`  span ${s.index}: ${s.phrase || '(no phrase)'}  ${s.start.toFixed(2)}s - ${s.end.toFixed(2)}s${s.flags ? `  (${s.flags.join(', ')})` : ''}`);
  }
  return lines.join('\n');
}

/** Runs the conversation until Ctrl-D or /quit. Resolves when it ends (the model is not disposed). */
export async function runChat(model: Model, options: ReplOptions = {}): Promise<void> {
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  const tty = output.isTTY === true;
  const color = options.color ?? (tty && !process.env.NO_COLOR);
  const write = (s: string) => output.write(s);
  const media: Partial<Record<MediaKind, string>> = { ...options.media };
  let history: ChatTurn[] = [];
  let chat: Chat | undefined;
  let last: GroundResult | undefined;
  let running: AbortController | undefined;

  const newChat = () => {
    const m: ChatMedia = {};
    if (media.image) m.image = media.image;
    if (media.video) m.video = media.video;
    if (media.audio) m.audio = media.audio;
    chat = model.createChat({ ...m, history });
  };
  const attached = () => {
    const kinds = (Object.keys(media) as MediaKind[]).filter((k) => media[k]);
    return kinds.length ? kinds.map((k) => `${k} ${media[k]}`).join(', ') : 'no media';
  };

  const rl = readline.createInterface({ input, output, terminal: tty, prompt: '> ' });
  rl.on('SIGINT', () => {
    if (running) running.abort();
    else {
      write('\n(Ctrl-D or /quit to leave)\n');
      rl.prompt();
    }
  });

  const ask = async (text: string) => {
    if (!chat) newChat();
    const c = chat as Chat;
    const ac = new AbortController();
    running = ac;
    const hl = highlighter(color);
    write('\n');
    try {
      const r = await c.send(text, { ...options.turn, signal: ac.signal, onToken: (piece) => write(hl(piece)) });
      last = r;
      history = c.history;
      write(color ? `${RESET}\n` : '\n');
      const listed = describeResult(r);
      if (listed) write(`${listed}\n`);
    } catch (err) {
      write(color ? RESET : '');
      if (err instanceof AbortError) write('\n[stopped]\n');
      else throw err;
    } finally {
      running = undefined;
    }
  };

  const save = async (file: string) => {
    if (!last) return write('nothing to draw yet: ask something first\n');
    if (media.image && (last.boxes.length > 0 || !media.video)) {
      await drawBoxes(media.image, last.boxes, file);
      return write(`drew ${last.boxes.length} box(es) on ${file}\n`);
    }
    if (media.video) {
      const v = await decodeVideo(media.video, options.turn?.ffmpegPath ? { ffmpegPath: options.turn.ffmpegPath } : {});
      await drawVideoStrip(v, last.segments, v.duration, file);
      return write(`drew ${v.frames.length} frames and ${last.segments.length} span(s) on ${file}\n`);
    }
    if (media.audio) {
      const a = await decodeAudio(media.audio, options.turn?.ffmpegPath ? { ffmpegPath: options.turn.ffmpegPath } : {});
      await drawWaveform(a.channels, a.sampleRate, last.audio?.clips ?? [], file);
      return write(`drew the waveform and its clips on ${file}\n`);
    }
    return write('no media to draw on: attach an image, a video or a sound\n');
  };

  const command = async (line: string): Promise<boolean> => {
    const [cmd, ...rest] = line.split(/\s+/);
    const arg = rest.join(' ').trim();
    switch (cmd) {
      case '/help':
        write(`${HELP}\n`);
        return true;
      case '/quit':
      case '/exit':
        return false;
      case '/reset':
        history = [];
        chat = undefined;
        last = undefined;
        write(`conversation cleared (${attached()})\n`);
        return true;
      case '/image':
      case '/video':
      case '/audio': {
        const kind = cmd.slice(1) as MediaKind;
        if (!arg) {
          write(`usage: ${cmd} <file>\n`);
          return true;
        }
        if (!fs.existsSync(arg)) {
          write(`no such file: ${arg}\n`);
          return true;
        }
        media[kind] = arg;
        chat = undefined;
        write(`attached ${kind} ${arg}\n`);
        return true;
      }
      case '/save':
        if (!arg) write('usage: /save <out.png>\n');
        else await save(arg);
        return true;
      default:
        write(`unknown command ${cmd}: /help lists them\n`);
        return true;
    }
  };

  write(`GroundingGPT chat (${attached()}). /help for commands, Ctrl-D to leave.\n`);
  rl.prompt();
  for await (const raw of rl) {
    const line = raw.trim();
    let go = true;
    try {
      if (line.startsWith('/')) go = await command(line);
      else if (line) await ask(line);
    } catch (err) {
      // a bad file or question: say so and carry on (the model stays usable)
      write(`${color ? RESET : ''}\nerror: ${err instanceof GroundingGPTError || err instanceof Error ? err.message : String(err)}\n`);
      chat = undefined;
    }
    if (!go) break;
    rl.prompt();
  }
  rl.close();
  write('\n');
}
