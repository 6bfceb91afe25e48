/**
 * Pictures of results (the CLI's `--draw`): boxes on the image, a contact sheet of the sampled
 * video frames with the answered spans on a time axis, and an audio waveform with the clip windows.
 * Rendered with sharp (libvips + librsvg for the SVG overlays). The output format follows the
 * extension of `out` (.png, .jpg/.jpeg, .webp); every file is written to a temporary name in the
 * same folder and renamed, so a failure leaves no partial file.
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { InvalidInputError } from '../errors';
import { writeFileAtomic } from '../util/atomic';
import { invalid, optionalInteger, optionsObject } from '../util/validate';
import { decodeImage, type DecodeImageOptions, type ImageInput } from './image';

/** Colours cycled over phrases / spans / clips (high contrast on photos). */
export const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45', '#ffe119', '#469990'];

type OutFormat = 'png' | 'jpeg' | 'webp';

function outputFormat(out: unknown): OutFormat {
  if (typeof out !== 'string' || out.length === 0) throw invalid('an output file path', 'out', out);
  const ext = path.extname(out).toLowerCase();
  if (ext === '.png') return 'png';
  if (ext === '.jpg' || ext === '.jpeg') return 'jpeg';
  if (ext === '.webp') return 'webp';
  throw new InvalidInputError(`Cannot tell the picture format from '${out}': use a .png, .jpg/.jpeg or .webp file name`);
}

function checkOutDir(out: string): void {
  const dir = path.dirname(path.resolve(out));
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new InvalidInputError(`Output folder does not exist: ${dir}`);
  }
  if (!st.isDirectory()) throw new InvalidInputError(`Output folder is not a folder: ${dir}`);
}

async function encodeAndWrite(img: sharp.Sharp, format: OutFormat, out: string): Promise<void> {
  const buf = await (format === 'png' ? img.png() : format === 'jpeg' ? img.jpeg({ quality: 90 }) : img.webp({ quality: 90 })).toBuffer();
  await writeFileAtomic(out, buf);
}

/** Text made safe for SVG: XML-escaped, control characters dropped, shortened to `max` chars. */
export function svgText(s: string, max = 60): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this drops
  const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffe\uffff]/g;
  let t = s.replace(CONTROL, '').replace(/\s+/g, ' ').trim();
  if ([...t].length > max) t = `${[...t].slice(0, max - 1).join('')}…`;
  return t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Approximate rendered width of a label (DejaVu Sans average advance ~0.6 em). */
const textWidth = (s: string, fontSize: number) => Math.ceil([...s].length * fontSize * 0.6) + 2;

const FONT = 'DejaVu Sans, Verdana, Arial, Helvetica, sans-serif';

/** A box to draw: pixel corners of the original image and an optional label. */
export interface DrawBox {
  box: { x1: number; y1: number; x2: number; y2: number };
  /** Label text (e.g. the phrase); boxes with the same label get the same colour. */
  phrase?: string;
}

/** An optional positive number up to `max` (drawing sizes in pixels). */
function positiveNumber(v: unknown, name: string, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > max) throw invalid(`a positive number up to ${max}`, name, v);
  return v;
}

/** Options of {@link drawBoxes}. */
export interface DrawBoxesOptions extends DecodeImageOptions {
  /** Line width in pixels, up to 1000 (default: image's shorter side / 200, at least 2). */
  lineWidth?: number;
  /** Label font size in pixels, up to 1000 (default: shorter side / 40, 12..48). */
  fontSize?: number;
}

/**
 * Writes the image (as decoded: EXIF orientation applied, original size) with the boxes drawn on
 * it, each with its label on a coloured tag.
 * @param image  any input {@link decodeImage} takes.
 * @param boxes  pixel boxes (e.g. `parseBoxes(...).boxes`).
 * @param out    destination (.png, .jpg/.jpeg, .webp), written atomically.
 */
export async function drawBoxes(
  image: ImageInput,
  boxes: readonly DrawBox[],
  out: string,
  opts?: DrawBoxesOptions,
): Promise<{ path: string; width: number; height: number }> {
  const o = optionsObject(opts);
  const format = outputFormat(out);
  if (!Array.isArray(boxes)) throw invalid('an array of { box, phrase? }', 'boxes', boxes);
  // index loops here and below: a sparse array's holes are reported, not skipped
  for (let i = 0; i < boxes.length; i++) {
    const b: unknown = boxes[i];
    const bx = (b as DrawBox | undefined)?.box;
    if (!bx || ![bx.x1, bx.y1, bx.x2, bx.y2].every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw invalid('{ box: { x1, y1, x2, y2 } } with finite numbers', `boxes[${i}]`, b);
    }
  }
  const lineWidth = positiveNumber(o.lineWidth, 'options.lineWidth', 1000);
  const fontSize = positiveNumber(o.fontSize, 'options.fontSize', 1000);
  checkOutDir(out);
  const img = await decodeImage(image, { limitInputPixels: o.limitInputPixels as number | false | undefined });
  const { width: W, height: H } = img;
  const short = Math.min(W, H);
  const lw = lineWidth ?? Math.max(2, Math.round(short / 200));
  const fs_ = fontSize ?? Math.min(48, Math.max(12, Math.round(short / 40)));

  const colourOf = new Map<string, string>();
  const parts: string[] = [];
  boxes.forEach((b, i) => {
    const label = b.phrase && b.phrase.trim() ? b.phrase : `#${i + 1}`;
    if (!colourOf.has(label)) colourOf.set(label, PALETTE[colourOf.size % PALETTE.length]);
    const colour = colourOf.get(label)!;
    const x1 = Math.min(b.box.x1, b.box.x2);
    const x2 = Math.max(b.box.x1, b.box.x2);
    const y1 = Math.min(b.box.y1, b.box.y2);
    const y2 = Math.max(b.box.y1, b.box.y2);
    parts.push(
      `<rect x="${x1.toFixed(2)}" y="${y1.toFixed(2)}" width="${Math.max(0, x2 - x1).toFixed(2)}" height="${Math.max(0, y2 - y1).toFixed(2)}" ` +
        `fill="none" stroke="${colour}" stroke-width="${lw}"/>`,
    );
    const text = svgText(label);
    const tw = textWidth(label.length > 60 ? label.slice(0, 60) : label, fs_) + 6;
    const th = Math.round(fs_ * 1.35);
    // Tag above the box when there is room, else inside its top edge; kept inside the image.
    const tx = Math.max(0, Math.min(W - tw, x1 - lw / 2));
    const ty = y1 - th >= 0 ? y1 - th : Math.min(H - th, Math.max(0, y1));
    parts.push(`<rect x="${tx.toFixed(2)}" y="${ty.toFixed(2)}" width="${tw}" height="${th}" fill="${colour}"/>`);
    parts.push(`<text x="${(tx + 3).toFixed(2)}" y="${(ty + th * 0.78).toFixed(2)}" font-family="${FONT}" font-size="${fs_}" fill="#ffffff">${text}</text>`);
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">${parts.join('')}</svg>`;
  const composed = sharp(img.data, { raw: { width: W, height: H, channels: 3 }, limitInputPixels: false }).composite([
    { input: Buffer.from(svg), top: 0, left: 0, limitInputPixels: false },
  ]);
  await encodeAndWrite(composed, format, out);
  return { path: out, width: W, height: H };
}

/** Sampled frames to lay out (e.g. a `DecodedVideo`). */
export interface StripFrames {
  /** RGB8 frames, size x size each. */
  frames: readonly Uint8Array[];
  size: number;
  /** Time of each frame in seconds. */
  times: readonly number[];
}

/** A span to highlight, in seconds (e.g. `parseSpans(...).segments`). */
export interface DrawSpan {
  start: number;
  end: number;
  phrase?: string;
}

/** Options of {@link drawVideoStrip}. */
export interface DrawVideoStripOptions {
  /** Thumbnails per row (1-256, default 8). */
  columns?: number;
  /** Thumbnail side in pixels (16-1024, default 112). */
  thumb?: number;
}

const fmtSec = (s: number) => (s >= 100 ? s.toFixed(0) : s.toFixed(1));

/**
 * Writes a contact sheet of the sampled frames (time under each) and, below it, a time axis with
 * each span as a coloured bar in its own lane; frames that fall inside a span get its colour
 * as a border.
 */
export async function drawVideoStrip(
  video: StripFrames,
  segments: readonly DrawSpan[],
  duration: number,
  out: string,
  opts?: DrawVideoStripOptions,
): Promise<{ path: string; width: number; height: number }> {
  const o = optionsObject(opts);
  const format = outputFormat(out);
  if (typeof duration !== 'number' || !Number.isFinite(duration) || duration <= 0) throw invalid('a positive number of seconds', 'duration', duration);
  const { frames, size, times } = video ?? ({} as StripFrames);
  if (!Array.isArray(frames) || frames.length === 0) throw invalid('a non-empty array of frames', 'video.frames', frames);
  if (!Number.isInteger(size) || size < 1) throw invalid('a positive integer', 'video.size', size);
  if (!Array.isArray(times) || times.length !== frames.length) throw invalid(`an array of ${frames.length} times`, 'video.times', times);
  if (size > 4096) throw invalid('an integer between 1 and 4096', 'video.size', size);
  for (let i = 0; i < frames.length; i++) {
    const f: unknown = frames[i];
    if (!(f instanceof Uint8Array) || f.length !== size * size * 3) throw invalid(`${size * size * 3} bytes (size x size RGB)`, `video.frames[${i}]`, f);
    const at: unknown = times[i];
    if (typeof at !== 'number' || !Number.isFinite(at)) throw invalid('a finite number of seconds', `video.times[${i}]`, at);
  }
  if (!Array.isArray(segments)) throw invalid('an array of { start, end }', 'segments', segments);
  for (let i = 0; i < segments.length; i++) {
    const s: DrawSpan | undefined = segments[i];
    if (typeof s?.start !== 'number' || typeof s?.end !== 'number' || !Number.isFinite(s.start) || !Number.isFinite(s.end)) {
      throw invalid('{ start, end } in seconds', `segments[${i}]`, s);
    }
  }
  const columns = optionalInteger(o.columns, 'options.columns', 1, 256, 8);
  const thumbSide = optionalInteger(o.thumb, 'options.thumb', 16, 1024, 112);
  checkOutDir(out);
  const cols = Math.min(frames.length, columns);
  const thumb = thumbSide;
  const rows = Math.ceil(frames.length / cols);
  const pad = 8;
  const cap = 16;
  const cellW = thumb + pad;
  const cellH = thumb + cap + pad;
  const W = Math.max(400, pad + cols * cellW);
  const gridH = pad + rows * cellH;
  const laneH = 20;
  const axisTop = gridH + 10;
  const H = axisTop + 30 + Math.max(1, segments.length) * (laneH + 4) + 10;

  const thumbs = await Promise.all(
    frames.map((f) =>
      sharp(f, { raw: { width: size, height: size, channels: 3 } })
        .resize(thumb, thumb, { fit: 'fill' })
        .png()
        .toBuffer(),
    ),
  );
  const overlay: string[] = [];
  const colour = (i: number) => PALETTE[i % PALETTE.length];
  const composites: sharp.OverlayOptions[] = [];
  frames.forEach((_, i) => {
    const left = pad + (i % cols) * cellW;
    const top = pad + Math.floor(i / cols) * cellH;
    composites.push({ input: thumbs[i], left, top });
    const inside = segments.findIndex((s) => times[i] >= Math.min(s.start, s.end) && times[i] <= Math.max(s.start, s.end));
    if (inside >= 0)
      overlay.push(`<rect x="${left - 3}" y="${top - 3}" width="${thumb + 6}" height="${thumb + 6}" fill="none" stroke="${colour(inside)}" stroke-width="4"/>`);
    overlay.push(
      `<text x="${left + thumb / 2}" y="${top + thumb + 13}" font-family="${FONT}" font-size="11" fill="#dddddd" text-anchor="middle">${fmtSec(times[i])} s</text>`,
    );
  });
  // Time axis.
  const ax0 = pad + 4;
  const ax1 = W - pad - 4;
  const xOf = (t: number) => ax0 + (Math.min(Math.max(t, 0), duration) / duration) * (ax1 - ax0);
  overlay.push(`<line x1="${ax0}" y1="${axisTop}" x2="${ax1}" y2="${axisTop}" stroke="#bbbbbb" stroke-width="2"/>`);
  const step = niceStep(duration / 10);
  for (let t = 0; t <= duration + 1e-9; t += step) {
    overlay.push(`<line x1="${xOf(t)}" y1="${axisTop - 4}" x2="${xOf(t)}" y2="${axisTop + 4}" stroke="#bbbbbb"/>`);
    overlay.push(`<text x="${xOf(t)}" y="${axisTop + 18}" font-family="${FONT}" font-size="11" fill="#bbbbbb" text-anchor="middle">${fmtSec(t)}</text>`);
  }
  for (const t of times) overlay.push(`<line x1="${xOf(t)}" y1="${axisTop - 2}" x2="${xOf(t)}" y2="${axisTop + 2}" stroke="#ffffff"/>`);
  segments.forEach((s, i) => {
    const y = axisTop + 28 + i * (laneH + 4);
    const a = xOf(Math.min(s.start, s.end));
    const b = Math.max(a + 2, xOf(Math.max(s.start, s.end)));
    overlay.push(`<rect x="${a}" y="${y}" width="${b - a}" height="${laneH}" fill="${colour(i)}" fill-opacity="0.85"/>`);
    const label = `${s.phrase ? `${s.phrase} ` : ''}${fmtSec(s.start)}–${fmtSec(s.end)} s`;
    overlay.push(
      `<text x="${Math.min(a + 4, ax1 - textWidth(label, 12))}" y="${y + 15}" font-family="${FONT}" font-size="12" fill="#ffffff">${svgText(label, 80)}</text>`,
    );
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">${overlay.join('')}</svg>`;
  composites.push({ input: Buffer.from(svg), left: 0, top: 0 });
  const img = sharp({ create: { width: W, height: H, channels: 3, background: '#1e1e1e' } }).composite(composites);
  await encodeAndWrite(img, format, out);
  return { path: out, width: W, height: H };
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/** A clip window in seconds (e.g. the core's audio clip list). */
export interface DrawClip {
  start: number;
  end: number;
}

/** Options of {@link drawWaveform}. */
export interface DrawWaveformOptions {
  /** Picture width in pixels (200-16384, default 1200). */
  width?: number;
  /** Height of each channel's lane in pixels (20-2048, default 120). */
  channelHeight?: number;
}

/**
 * Writes the waveform (min/max envelope per pixel column, one lane per channel) with the clip
 * windows shaded and labelled, over a time axis.
 */
export async function drawWaveform(
  channels: readonly Float32Array[],
  sampleRate: number,
  clips: readonly DrawClip[],
  out: string,
  opts?: DrawWaveformOptions,
): Promise<{ path: string; width: number; height: number }> {
  const o = optionsObject(opts);
  const format = outputFormat(out);
  if (!Array.isArray(channels) || channels.length === 0 || channels.length > 64) throw invalid('a non-empty array of Float32Array', 'channels', channels);
  for (let i = 0; i < channels.length; i++) {
    const c: unknown = channels[i];
    if (!(c instanceof Float32Array)) throw invalid('a Float32Array', `channels[${i}]`, c);
  }
  const n = channels[0].length;
  if (n === 0 || !channels.every((c) => c.length === n)) throw new InvalidInputError('Expected channels of equal, non-zero length for channels');
  if (typeof sampleRate !== 'number' || !Number.isFinite(sampleRate) || sampleRate <= 0) throw invalid('a positive sample rate', 'sampleRate', sampleRate);
  if (!Array.isArray(clips)) throw invalid('an array of { start, end }', 'clips', clips);
  if (clips.length > 1000) throw invalid('an array of at most 1000 clips', 'clips', clips);
  for (let i = 0; i < clips.length; i++) {
    const c: DrawClip | undefined = clips[i];
    if (typeof c?.start !== 'number' || typeof c?.end !== 'number' || !Number.isFinite(c.start) || !Number.isFinite(c.end))
      throw invalid('{ start, end } in seconds', `clips[${i}]`, c);
  }
  const W = optionalInteger(o.width, 'options.width', 200, 16384, 1200);
  const laneH = optionalInteger(o.channelHeight, 'options.channelHeight', 20, 2048, 120);
  checkOutDir(out);
  const left = 10;
  const right = W - 10;
  const top = 10 + Math.max(1, clips.length) * 14;
  const axisY = top + channels.length * laneH + 4;
  const H = axisY + 30;
  const duration = n / sampleRate;
  const xOf = (t: number) => left + (Math.min(Math.max(t, 0), duration) / duration) * (right - left);
  const parts: string[] = [];
  clips.forEach((c, i) => {
    const a = xOf(Math.min(c.start, c.end));
    const b = Math.max(a + 1, xOf(Math.max(c.start, c.end)));
    const colour = PALETTE[i % PALETTE.length];
    const y = 6 + i * 14;
    parts.push(`<rect x="${a}" y="${top}" width="${b - a}" height="${channels.length * laneH}" fill="${colour}" fill-opacity="0.18"/>`);
    parts.push(`<line x1="${a}" y1="${y + 10}" x2="${b}" y2="${y + 10}" stroke="${colour}" stroke-width="3"/>`);
    const label = `clip ${i + 1}: ${c.start.toFixed(2)}–${c.end.toFixed(2)} s`;
    parts.push(
      `<text x="${Math.min(a + 2, right - textWidth(label, 11))}" y="${y + 7}" font-family="${FONT}" font-size="11" fill="${colour}">${svgText(label)}</text>`,
    );
  });
  const cols = right - left;
  channels.forEach((ch, c) => {
    const mid = top + c * laneH + laneH / 2;
    const amp = laneH / 2 - 4;
    const upper: string[] = [];
    const lower: string[] = [];
    for (let x = 0; x < cols; x++) {
      const a = Math.floor((x * n) / cols);
      const b = Math.max(a + 1, Math.floor(((x + 1) * n) / cols));
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = a; i < b && i < n; i++) {
        const v = ch[i];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      if (!Number.isFinite(lo)) lo = hi = 0;
      lo = Math.max(-1, Math.min(1, lo));
      hi = Math.max(-1, Math.min(1, hi));
      upper.push(`${(left + x).toFixed(1)},${(mid - hi * amp).toFixed(1)}`);
      lower.push(`${(left + x).toFixed(1)},${(mid - lo * amp + 0.5).toFixed(1)}`);
    }
    parts.push(`<polygon points="${upper.join(' ')} ${lower.reverse().join(' ')}" fill="#2f6fb5" stroke="#2f6fb5" stroke-width="0.5"/>`);
    parts.push(`<line x1="${left}" y1="${mid}" x2="${right}" y2="${mid}" stroke="#999999" stroke-width="0.5"/>`);
  });
  parts.push(`<line x1="${left}" y1="${axisY}" x2="${right}" y2="${axisY}" stroke="#444444"/>`);
  const step = niceStep(duration / 10);
  for (let t = 0; t <= duration + 1e-9; t += step) {
    parts.push(`<line x1="${xOf(t)}" y1="${axisY}" x2="${xOf(t)}" y2="${axisY + 5}" stroke="#444444"/>`);
    parts.push(
      `<text x="${xOf(t)}" y="${axisY + 18}" font-family="${FONT}" font-size="11" fill="#444444" text-anchor="middle">${t.toFixed(step < 1 ? 1 : 0)} s</text>`,
    );
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><rect width="${W}" height="${H}" fill="#ffffff"/>${parts.join('')}</svg>`;
  await encodeAndWrite(sharp(Buffer.from(svg)).flatten({ background: '#ffffff' }), format, out);
  return { path: out, width: W, height: H };
}
