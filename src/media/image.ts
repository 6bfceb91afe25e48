/**
 * Image decoding for the image path (docs/COMPUTATION.md §2.1): any supported input -> tightly packed RGB8.
 *
 * What is done to an encoded file (sharp/libvips):
 * - EXIF orientation is applied (docs/COMPUTATION.md §2 decision: boxes refer to the image as displayed; Pillow
 *   and therefore upstream ignore it).
 * - Embedded ICC profiles are ignored for RGB and greyscale images, as Pillow's `convert('RGB')`
 *   does (the stored values reach the model unchanged; needed for the Pillow-exact resize).
 * - Alpha is dropped without compositing, like Pillow's `convert('RGB')` on RGBA/LA/transparent
 *   palette images: the colour stored under a transparent pixel is kept as it is.
 * - Greyscale is replicated to R = G = B; CMYK is converted to sRGB by libvips with its
 *   colour management (embedded or built-in CMYK profile); Pillow uses a naive formula here, so
 *   CMYK images differ from upstream by design.
 * - 16-bit images are reduced to 8 bits by libvips (v >> 8). Pillow clips 16-bit greyscale
 *   (`I;16` -> `L` saturates at 255) instead; we scale, which is what a user expects.
 * - Multi-page files (GIF, TIFF...) give their first page.
 *
 * Bad inputs (unreadable, unsupported, corrupt or truncated file, 0 pixels, over the pixel
 * limit, raw data of the wrong size) raise `InvalidInputError`; sharp's own errors never escape.
 */
import fs from 'node:fs';
import sharp from 'sharp';
import { InvalidInputError } from '../errors';
import { invalid, isPlainObject, optionsObject } from '../util/validate';

/**
 * Default pixel limit (width x height, before EXIF rotation): 0x3FFF x 0x3FFF = 268,402,689, the
 * same as sharp's `limitInputPixels` default. A guard against decompression bombs: a small file
 * that declares a huge image. Overridable with `limitInputPixels`.
 */
export const DEFAULT_LIMIT_INPUT_PIXELS = 0x3fff * 0x3fff;

/**
 * Longest side of the pixels the model's image path decodes a file or buffer to (docs/MEDIA.md,
 * "Images"): a larger image is reduced while it is decoded (libvips streams it: memory follows
 * the result, not the file). The image tower takes 336x336, so results stay Pillow-exact for every
 * image up to this size and differ by a level or so beyond it.
 */
export const TOWER_DECODE_MAX_SIDE = 8192;

/** The encoded formats accepted from files and buffers: raster images only (no SVG, PDF...). */
export const RASTER_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif'] as const;

/** Already decoded pixels. */
export interface RawImage {
  /** Pixel bytes, row-major, `channels` interleaved, no row padding: width*height*channels bytes. */
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** 1 = grey, 2 = grey + alpha, 3 = RGB, 4 = RGBA (alpha is dropped, not composited). */
  channels: 1 | 2 | 3 | 4;
}

/** The part of a sharp instance this module uses (a `sharp.Sharp`, from any copy of sharp). */
export interface SharpLike {
  clone(): sharp.Sharp;
  metadata(): Promise<sharp.Metadata>;
  toBuffer(options: { resolveWithObject: true }): Promise<{ data: Buffer; info: sharp.OutputInfo }>;
}

/**
 * An image: a file path, the bytes of an encoded file (JPEG, PNG, WebP, GIF, TIFF, AVIF, HEIF
 * where libvips has it...), a sharp instance (rendered as configured, then EXIF-oriented), or raw
 * pixels.
 */
export type ImageInput = string | Uint8Array | SharpLike | RawImage;

/** Options of {@link decodeImage}. */
export interface DecodeImageOptions {
  /**
   * Largest accepted width x height (before rotation); `false` disables the guard.
   * Default {@link DEFAULT_LIMIT_INPUT_PIXELS}.
   */
  limitInputPixels?: number | false;
  /**
   * Files, buffers and raw pixels: when the image as displayed is larger than `maxSide` x
   * `maxSide`, it is reduced (aspect kept, libvips lanczos3; JPEG and WebP use shrink-on-load)
   * while decoding, so that memory follows the result; `reducedFrom` then holds the size as
   * displayed. Sharp instances are returned as they are. Default: no reduction.
   */
  maxSide?: number;
}

/** Where the pixels came from. */
export interface ImageSourceInfo {
  kind: 'path' | 'buffer' | 'sharp' | 'raw';
  /** The file, for `kind: 'path'`. */
  path?: string;
  /** Encoded format as libvips names it ('jpeg', 'png', 'webp'...); 'raw' for raw pixels. */
  format: string;
  /** Size as stored, before the EXIF orientation was applied. */
  storedWidth: number;
  storedHeight: number;
  /** EXIF orientation tag (1..8) when present. */
  orientation?: number;
  /** Channels of the source, alpha included. */
  channels: number;
  /** Whether an alpha channel was dropped. */
  alphaDropped: boolean;
  /** Colour space of the source as libvips names it ('srgb', 'b-w', 'cmyk', 'rgb16', 'grey16'...). */
  space: string;
  /** Sample format of the source ('uchar', 'ushort'...). */
  depth: string;
}

/** Decoded RGB8 pixels of the image as displayed. */
export interface DecodedImage {
  /** width*height*3 bytes, row-major RGB, no padding. */
  data: Uint8Array;
  width: number;
  height: number;
  source: ImageSourceInfo;
  /** Set when `maxSide` reduced the image: its size as displayed (what boxes refer to). */
  reducedFrom?: { width: number; height: number };
}

export { paddedSquare, type PaddedSquare } from '../geometry';

function isSharpLike(v: unknown): v is SharpLike {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.clone === 'function' && typeof o.metadata === 'function' && typeof o.toBuffer === 'function';
}

function isRawImage(v: unknown): v is Record<string, unknown> {
  return isPlainObject(v) && 'data' in v && 'width' in v && 'height' in v;
}

function readLimit(opts: Record<string, unknown>): number | false {
  const v = opts.limitInputPixels;
  if (v === undefined) return DEFAULT_LIMIT_INPUT_PIXELS;
  if (v === false) return false;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw invalid('a positive integer or false', 'limitInputPixels', v);
  }
  return v;
}

function checkPixels(width: number, height: number, limit: number | false, what: string): void {
  if (width <= 0 || height <= 0) throw new InvalidInputError(`${what} has no pixels (${width}x${height})`);
  if (limit !== false && width * height > limit) {
    throw new InvalidInputError(
      `${what} is ${width}x${height} = ${width * height} pixels, above the limit of ${limit} ` +
        '(limitInputPixels, a guard against decompression bombs; raise it or pass false to accept larger images)',
    );
  }
}

/**
 * Interleaved 8-bit pixels with 1..4 channels -> tight RGB8 (grey replicated, alpha dropped).
 * Returns the input itself when it is already tight RGB in a Uint8Array.
 */
export function toRgb8(data: Uint8Array | Uint8ClampedArray, width: number, height: number, channels: number): Uint8Array {
  const n = width * height;
  if (channels === 3) {
    return data instanceof Uint8Array && data.length === n * 3 ? data : new Uint8Array(data.buffer, data.byteOffset, n * 3).slice();
  }
  const out = new Uint8Array(n * 3);
  if (channels === 1 || channels === 2) {
    for (let i = 0, j = 0; i < n; i++, j += channels) {
      const g = data[j];
      out[3 * i] = g;
      out[3 * i + 1] = g;
      out[3 * i + 2] = g;
    }
  } else if (channels === 4) {
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      out[3 * i] = data[j];
      out[3 * i + 1] = data[j + 1];
      out[3 * i + 2] = data[j + 2];
    }
  } else {
    throw new InvalidInputError(`Unsupported channel count ${channels}`);
  }
  return out;
}

/**
 * Validates raw pixels (`{ data, width, height, channels }`) and returns them checked.
 * @param name  argument name for messages, e.g. 'image' or 'video.frames[3]'.
 */
export function checkRawImage(v: Record<string, unknown>, name: string, limit: number | false = DEFAULT_LIMIT_INPUT_PIXELS): RawImage {
  const { data, width, height, channels } = v;
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw invalid('a Uint8Array (or Buffer, Uint8ClampedArray)', `${name}.data`, data);
  }
  if (typeof width !== 'number' || !Number.isInteger(width) || width < 1) throw invalid('a positive integer', `${name}.width`, width);
  if (typeof height !== 'number' || !Number.isInteger(height) || height < 1) throw invalid('a positive integer', `${name}.height`, height);
  if (channels !== 1 && channels !== 2 && channels !== 3 && channels !== 4) {
    throw invalid('1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA)', `${name}.channels`, channels);
  }
  checkPixels(width, height, limit, `Raw ${name}`);
  const want = width * height * channels;
  if (data.length !== want) {
    throw new InvalidInputError(`Expected ${want} bytes (${width} x ${height} x ${channels} channels) in ${name}.data but received ${data.length}`);
  }
  return { data, width, height, channels };
}

/**
 * The raster format the first bytes of a file announce, or undefined. Only these reach sharp: it
 * would also parse SVG (which can reference other files), and libvips has loaders for formats no
 * one sends as a picture (PDF, CSV matrices, .v files...).
 */
export function sniffRaster(head: Uint8Array): (typeof RASTER_FORMATS)[number] | undefined {
  const b = head;
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && ascii(0, 8) === '\x89PNG\r\n\x1a\n') return 'png';
  if (b.length >= 6 && (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a')) return 'gif';
  if (b.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  if (b.length >= 4 && (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*' || ascii(0, 4) === 'II+\0' || ascii(0, 4) === 'MM\0+')) return 'tiff';
  if (b.length >= 12 && ascii(4, 8) === 'ftyp' && /^(avif|avis|heic|heix|hevc|hevx|heim|heis|mif1|msf1)$/.test(ascii(8, 12))) return 'heif';
  return undefined;
}

/** What a non-raster file looks like, for the message. */
function describeNonRaster(head: Uint8Array): string {
  const text = Buffer.from(head)
    .toString('latin1')
    .replace(/^\ufeff|^\xef\xbb\xbf/, '')
    .trimStart();
  if (/^<\?xml|^<svg|^<!DOCTYPE svg|^<!--/i.test(text)) return 'an SVG or other XML document';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip data (e.g. SVGZ)';
  if (text.startsWith('%PDF')) return 'a PDF document';
  return 'unsupported or unrecognised image format';
}

async function readHead(file: string, n = 64): Promise<Uint8Array> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function requireRaster(head: Uint8Array, what: string): void {
  if (sniffRaster(head) === undefined) {
    throw new InvalidInputError(
      `Cannot decode ${what}: ${describeNonRaster(head)}; images are read from raster formats only (JPEG, PNG, WebP, GIF, TIFF, AVIF/HEIF)`,
    );
  }
}

/** sharp's messages, shortened and made about the user's input. */
function sharpFailure(err: unknown, what: string): InvalidInputError {
  const raw = err instanceof Error ? err.message : String(err);
  const lines = [
    ...new Set(
      raw
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean),
    ),
  ];
  let msg = lines.slice(0, 3).join('; ');
  if (/unsupported image format/i.test(raw)) msg = 'unsupported or unrecognised image format';
  else if (/pixel limit/i.test(raw)) msg = 'image exceeds the pixel limit (limitInputPixels)';
  return new InvalidInputError(`Cannot decode ${what}: ${msg}`, { cause: err });
}

/**
 * Decodes an image to tightly packed RGB8 of the image as displayed (EXIF orientation applied).
 *
 * @param input  path, Buffer/Uint8Array of an encoded file, sharp instance, or raw pixels
 *               `{ data, width, height, channels }` (`channels` 1..4; `data.length` must be
 *               width*height*channels).
 * @param opts   `limitInputPixels` (default {@link DEFAULT_LIMIT_INPUT_PIXELS}, `false` = none).
 * @throws InvalidInputError for every bad input, with a message naming the problem.
 */
export async function decodeImage(input: ImageInput, opts?: DecodeImageOptions): Promise<DecodedImage> {
  const o = optionsObject(opts, 'options');
  const limit = readLimit(o);
  const maxSide = o.maxSide;
  if (maxSide !== undefined && (typeof maxSide !== 'number' || !Number.isInteger(maxSide) || maxSide < 1 || maxSide > 0x3fff)) {
    throw invalid('an integer between 1 and 16383', 'maxSide', maxSide);
  }

  if (isRawImage(input)) {
    const raw = checkRawImage(input, 'image', limit);
    let data = toRgb8(raw.data, raw.width, raw.height, raw.channels);
    let width = raw.width;
    let height = raw.height;
    // Raw pixels get the same bound as files: the cost of the padded square's resize grows with
    // the square of the long side (a 1x60000 strip took 19 s before this reduction).
    const reduce = maxSide !== undefined && Math.max(width, height) > maxSide;
    if (reduce) {
      try {
        const out = await sharp(data, { raw: { width, height, channels: 3 }, limitInputPixels: false })
          .resize(maxSide, maxSide, { fit: 'inside', kernel: 'lanczos3' })
          .raw({ depth: 'uchar' })
          .toBuffer({ resolveWithObject: true });
        if (out.info.channels !== 3 || out.data.length !== out.info.width * out.info.height * 3) {
          throw new Error(`the reduction returned ${out.data.length} bytes for ${out.info.width}x${out.info.height}x${out.info.channels}`);
        }
        data = new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length);
        width = out.info.width;
        height = out.info.height;
      } catch (err) {
        throw sharpFailure(err, 'raw image');
      }
    }
    return {
      data,
      width,
      height,
      ...(reduce ? { reducedFrom: { width: raw.width, height: raw.height } } : {}),
      source: {
        kind: 'raw',
        format: 'raw',
        storedWidth: raw.width,
        storedHeight: raw.height,
        channels: raw.channels,
        alphaDropped: raw.channels === 2 || raw.channels === 4,
        space: raw.channels <= 2 ? 'b-w' : 'srgb',
        depth: 'uchar',
      },
    };
  }

  let kind: ImageSourceInfo['kind'];
  let what: string;
  // Two pipelines over the same input: the header is read without sharp's limit so that our own
  // check gives the message; the decode keeps sharp's limit as a backstop.
  let make: (limitPixels: number | false) => sharp.Sharp;
  if (typeof input === 'string') {
    if (input.length === 0) throw invalid('a file path, Buffer, sharp instance or raw image', 'image', input);
    kind = 'path';
    what = `image file ${input}`;
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(input);
    } catch {
      throw new InvalidInputError(`Image file not found: ${input}`);
    }
    if (!st.isFile()) throw new InvalidInputError(`Image path is not a file: ${input}`);
    if (st.size === 0) throw new InvalidInputError(`Image file is empty (0 bytes): ${input}`);
    let head: Uint8Array;
    try {
      head = await readHead(input);
    } catch (err) {
      throw new InvalidInputError(`Cannot read image file ${input}: ${(err as Error).message}`, { cause: err });
    }
    requireRaster(head, what);
    make = (lim) => sharp(input, { limitInputPixels: lim, failOn: 'error', ignoreIcc: true });
  } else if (input instanceof Uint8Array) {
    kind = 'buffer';
    what = 'image buffer';
    if (input.length === 0) throw new InvalidInputError('Image buffer is empty (0 bytes)');
    requireRaster(input.subarray(0, 64), what);
    make = (lim) => sharp(input, { limitInputPixels: lim, failOn: 'error', ignoreIcc: true });
  } else if (isSharpLike(input)) {
    kind = 'sharp';
    what = 'sharp instance';
    // The instance's own options (its limit included) stay as the caller set them.
    make = () => input.clone();
  } else {
    throw invalid('a file path, Buffer/Uint8Array, sharp instance or raw { data, width, height, channels }', 'image', input);
  }

  let meta: sharp.Metadata;
  try {
    meta = await make(false).metadata();
  } catch (err) {
    throw sharpFailure(err, what);
  }
  if (kind !== 'sharp' && !(RASTER_FORMATS as readonly string[]).includes(String(meta.format))) {
    throw new InvalidInputError(`Cannot decode ${what}: ${String(meta.format)} is not a raster format this library reads`);
  }
  const storedWidth = meta.width ?? 0;
  const storedHeight = meta.height ?? 0;
  checkPixels(storedWidth, storedHeight, limit, what[0].toUpperCase() + what.slice(1));
  // size as displayed: EXIF orientations 5-8 swap the sides
  const swap = (meta.orientation ?? 1) >= 5;
  const shownWidth = swap ? storedHeight : storedWidth;
  const shownHeight = swap ? storedWidth : storedHeight;
  const reduce = kind !== 'sharp' && maxSide !== undefined && Math.max(shownWidth, shownHeight) > maxSide;

  const space = String(meta.space ?? 'unknown');
  const depth = String(meta.depth ?? 'uchar');
  const srcChannels = meta.channels ?? 3;
  let pixels: { data: Buffer; info: sharp.OutputInfo };
  try {
    // autoOrient: EXIF orientation; toColourspace('srgb'): grey -> 3 bands, CMYK -> sRGB, 16 -> 8 bit.
    let pipeline = make(limit).autoOrient();
    if (reduce) pipeline = pipeline.resize(maxSide, maxSide, { fit: 'inside', kernel: 'lanczos3' });
    pixels = await pipeline.toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw sharpFailure(err, what);
  }
  const { width, height, channels } = pixels.info;
  checkPixels(width, height, false, what);
  if (pixels.data.length !== width * height * channels || channels < 1 || channels > 4) {
    throw new InvalidInputError(`Cannot decode ${what}: the decoder returned ${pixels.data.length} bytes for ${width}x${height}x${channels}`);
  }
  return {
    data: toRgb8(new Uint8Array(pixels.data.buffer, pixels.data.byteOffset, pixels.data.length), width, height, channels),
    width,
    height,
    ...(reduce ? { reducedFrom: { width: shownWidth, height: shownHeight } } : {}),
    source: {
      kind,
      path: kind === 'path' ? (input as string) : undefined,
      format: String(meta.format ?? 'unknown'),
      storedWidth,
      storedHeight,
      orientation: meta.orientation,
      channels: srcChannels,
      alphaDropped: meta.hasAlpha === true,
      space,
      depth,
    },
  };
}
