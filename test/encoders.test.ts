// The three towers through the raw addon (NativeModel.encode* / probe) against the golden outputs:
// f32 within the manifest tolerances, f16 and q8_0 within the looser bounds below; broken encoders
// files and bad inputs give typed errors and leave the process and the model usable.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import t, { type Test } from 'tap';
import { allclose, goldenCase, mediaDir, readExpected, tempDir } from './helpers/golden';
import { tinyConverted, type TinyFiles } from './helpers/converted';
import { retypeKey, GGUF_TYPE, truncateCopy } from './helpers/gguf_patch';
import { native, type NativeModel } from '../src/native';
import type { TowerMatmul } from '../src/types';

// Weight types other than f32 quantise weights (and, in ggml's CPU matmul, activations: f16 or
// q8_0 blocks), so they are compared by error relative to the output's RMS and by max |diff|.
// Measured on the tiny model: f16 rms ratio <= 8e-4, max |diff| <= 6e-3 with ggml's f16 matmul;
// on CPUs with AMX-BF16 or AVX512-BF16 the f16 Linear layers and attention run in bf16 (native/src/amx/amx.h): <= 6.1e-3
// and <= 0.031; q8_0 <= 2.2e-2 and <= 0.11 (outputs have RMS ~1-2.5). Bounds: about twice that.
const LOOSE: Record<'f16' | 'q8_0', { rms: number; maxAbs: number }> = {
  f16: { rms: 1.2e-2, maxAbs: 0.06 },
  q8_0: { rms: 6e-2, maxAbs: 0.3 },
};

const addon = native();

async function open(files: TinyFiles, towerMatmul: TowerMatmul = 'auto'): Promise<NativeModel> {
  return addon.loadModel(
    {
      llm: files.llm,
      encoders: files.encoders,
      encodersOnGpu: false,
      useMmap: true,
      towerMatmul,
      contextSize: 256,
      batchSize: 64,
      threads: 2,
      threadsBatch: 2,
      kvType: 'f32',
      flashAttn: 'auto',
    },
    addon.createCancel(),
  );
}

async function decode(file: string) {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { rgb: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, stride: info.width * 3 };
}

// golden frames_u8 [3, T, H, W] -> T frames of H x W x 3
function goldenFrames(): Uint8Array[] {
  const a = readExpected(goldenCase('video/test3_mp4').outputs.frames_u8.file);
  const [C, T, H, W] = a.shape;
  const src = a.data as Uint8Array;
  const frames: Uint8Array[] = [];
  for (let f = 0; f < T; f++) {
    const out = new Uint8Array(H * W * 3);
    for (let c = 0; c < C; c++) {
      const base = (c * T + f) * H * W;
      for (let i = 0; i < H * W; i++) out[i * 3 + c] = src[base + i];
    }
    frames.push(out);
  }
  return frames;
}

function rmsRatio(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let se = 0;
  let ss = 0;
  for (let i = 0; i < b.length; i++) {
    se += (a[i] - b[i]) ** 2;
    ss += b[i] ** 2;
  }
  return Math.sqrt(se / ss);
}

interface Out {
  file: string;
  shape: number[];
  atol?: number;
  rtol?: number;
}

// Compares one output at a weight type; `shape` is what the probe reported (batch dim dropped).
function check(t: Test, type: 'f32' | 'f16' | 'q8_0', what: string, got: Float32Array, shape: number[] | undefined, out: Out, slice?: number) {
  let want = readExpected(out.file).data as Float32Array;
  if (slice !== undefined) want = want.subarray(0, slice);
  const wantShape = out.shape[0] === 1 && out.shape.length === 4 ? out.shape.slice(1) : out.shape;
  if (shape) t.same(shape, wantShape, `${what}: shape`);
  t.equal(got.length, want.length, `${what}: length`);
  if (type === 'f32') {
    const rep = allclose(got, want, out.atol ?? 1e-4, out.rtol ?? 0);
    t.comment(`${what}: max |diff| ${rep.maxAbs.toExponential(2)} (atol ${out.atol}, rtol ${out.rtol})`);
    t.ok(rep.ok, `${what}: allclose at f32`);
  } else {
    const rep = allclose(got, want, 0, 0);
    const r = rmsRatio(got, want);
    t.comment(`${what}: max |diff| ${rep.maxAbs.toExponential(2)}, rms ratio ${r.toExponential(2)}`);
    t.ok(r <= LOOSE[type].rms && rep.maxAbs <= LOOSE[type].maxAbs, `${what}: within the ${type} bounds`);
  }
}

for (const type of ['f32', 'f16', 'q8_0'] as const) {
  t.test(`towers at ${type}`, async (t) => {
    const files = await tinyConverted(type);
    const nm = await open(files);
    t.teardown(() => nm.dispose());
    const info = nm.info();
    t.same(info.hasMedia, [true, true, true]);

    for (const id of ['image/dog_image', 'image/test1_jpeg']) {
      t.test(id, async (t) => {
        const c = goldenCase(id);
        const o = c.outputs;
        const img = await decode(path.join(mediaDir, path.basename(c.input.path)));
        const probe = (name: string) => nm.probe('image', img, name, addon.createCancel());
        if (type === 'f32') {
          const px = await probe('pixel_values');
          t.same(px.shape, [3, 336, 336]);
          const rep = allclose(px.data, readExpected(o.pixel_values.file).data as Float32Array, o.pixel_values.atol, 0);
          t.ok(rep.ok, `pixel_values within ${o.pixel_values.atol} (max ${rep.maxAbs.toExponential(2)})`);
        }
        const hidden = await probe('clip_select_hidden');
        check(t, type, 'clip_select_hidden', hidden.data, hidden.shape, o.clip_select_hidden);
        const feats = await probe('image_features');
        check(t, type, 'image_features', feats.data, feats.shape, o.image_features);
        const proj = await probe('projected');
        check(t, type, 'projected', proj.data, proj.shape, o.projected);
        const fractions: number[] = [];
        const enc = await nm.encodeImage(img.rgb, img.width, img.height, img.stride, addon.createCancel(), (f) => fractions.push(f));
        t.same(enc, proj.data, 'encodeImage equals the projected probe');
        t.ok(fractions.length > 0 && fractions.every((f, i) => f > 0 && f <= 1 && (i === 0 || f >= fractions[i - 1])), 'progress rises to at most 1');
      });
    }

    t.test('video/test3_mp4 (golden frames)', async (t) => {
      const o = goldenCase('video/test3_mp4').outputs;
      const frames = goldenFrames();
      const first2 = { frames: frames.slice(0, 2) };
      const eva = await nm.probe('video', first2, 'eva_ln_vision', addon.createCancel());
      check(t, type, 'eva_ln_vision (frames 0-1)', eva.data, eva.shape, o.vit_ln_first2);
      const qf = await nm.probe('video', first2, 'qformer', addon.createCancel());
      check(t, type, 'qformer (frames 0-1)', qf.data, qf.shape, o.qformer_first2);
      if (type === 'f32') {
        // (one 64-frame pass is enough at the other types)
        const vqf = await nm.probe('video', { frames }, 'video_qformer', addon.createCancel());
        check(t, type, 'video_qformer', vqf.data, vqf.shape, o.video_qformer);
      }
      const enc = await nm.encodeVideo(frames, addon.createCancel());
      check(t, type, 'projected (encodeVideo)', enc, undefined, o.video_embeds);
    });

    t.test('audio/dog_audio (golden fbank)', async (t) => {
      const o = goldenCase('audio/dog_audio').outputs;
      const fbank = readExpected(o.fbank.file).data as Float32Array;
      const input = { fbank, clips: 3 };
      const feat = await nm.probe('audio', input, 'imagebind_feature', addon.createCancel());
      check(t, type, 'imagebind_feature', feat.data, feat.shape, o.imagebind_audio_feature);
      const fin = await nm.probe('audio', input, 'imagebind_out', addon.createCancel());
      check(t, type, 'imagebind_out', fin.data, fin.shape, o.imagebind_audio_finalout);
      const enc = await nm.encodeAudio(fbank, 3, addon.createCancel());
      check(t, type, 'projected (encodeAudio)', enc, undefined, o.audio_embeds);
    });
  });
}

// towerMatmul on the f16 model: 'ggml' keeps ggml's f16 kernels (the f16 error even on CPUs with
// AMX, where 'auto' has the bf16 one), 'int8' stays within its own bound. Measured here (AMX CPU),
// rms error / rms against the f32 golden: audio ggml 9.0e-4, auto 5.7e-3, int8 2.2e-2; image
// 8.3e-4, 4.5e-3, 1.3e-2. With AVX512-BF16/VNNI and no AMX (AMD EPYC, Zen 5) the same kernels run
// on dot products: auto 5.1e-3 / 4.4e-3, int8 2.2e-2 / 1.3e-2. With neither, all three are ggml's.
t.test('towerMatmul: ggml, auto and int8 on the f16 model', async (t) => {
  const files = await tinyConverted('f16');
  const o = goldenCase('audio/dog_audio').outputs;
  const fbank = readExpected(o.fbank.file).data as Float32Array;
  const ic = goldenCase('image/dog_image');
  const img = ic.outputs;
  const decoded = await decode(path.join(mediaDir, path.basename(ic.input.path)));
  const bound = { ggml: 2e-3, auto: 1.2e-2, int8: 5e-2 };
  const errors: Record<string, [number, number]> = {};
  for (const mode of ['ggml', 'auto', 'int8'] as const) {
    const nm = await open(files, mode);
    const ra = rmsRatio(await nm.encodeAudio(fbank, 3, addon.createCancel()), readExpected(o.audio_embeds.file).data as Float32Array);
    const pr = await nm.probe('image', decoded, 'projected', addon.createCancel());
    const ri = rmsRatio(pr.data, readExpected(img.projected.file).data as Float32Array);
    t.ok(ra <= bound[mode] && ri <= bound[mode], `${mode}: rms error / rms audio ${ra.toExponential(2)}, image ${ri.toExponential(2)} (<= ${bound[mode]})`);
    errors[mode] = [ra, ri];
    await nm.dispose();
  }
  // The bounds alone would pass if 'auto' or 'int8' silently fell back to ggml's kernels: where the
  // CPU has the units, their errors must differ from ggml's (another kernel ran).
  const flags = new Set(
    fs.existsSync('/proc/cpuinfo') ? (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/) : [],
  );
  const has = (...f: string[]) => f.every((x) => flags.has(x));
  if (has('amx_bf16', 'amx_tile') || has('avx512_bf16', 'avx512_vnni')) t.not(errors.auto.join(), errors.ggml.join(), "'auto' ran a bf16 kernel, not ggml's");
  if (has('amx_int8', 'amx_tile') || has('avx512_vnni', 'avx512_bf16')) t.not(errors.int8.join(), errors.ggml.join(), "'int8' ran an int8 kernel, not ggml's");
  await t.rejects(open(files, 'fp8' as never), { message: /towerMatmul must be 'auto', 'ggml' or 'int8'/ });
});

// ---- broken encoders files ----------------------------------------------------------------------

// Byte surgery on a GGUF tensor info (name, n_dims, ne[], type, offset), keeping the file parseable.
function tensorInfoAt(buf: Buffer, name: string): number {
  const n = Buffer.from(name, 'utf8');
  const needle = Buffer.alloc(8 + n.length);
  needle.writeBigUInt64LE(BigInt(n.length), 0);
  n.copy(needle, 8);
  const at = buf.indexOf(needle);
  if (at < 0) throw new Error(`no tensor ${name}`);
  return at + needle.length; // -> n_dims
}

function swapDims(src: string, dest: string, name: string) {
  const buf = fs.readFileSync(src);
  const p = tensorInfoAt(buf, name);
  const a = buf.readBigInt64LE(p + 4);
  const b = buf.readBigInt64LE(p + 12);
  buf.writeBigInt64LE(b, p + 4);
  buf.writeBigInt64LE(a, p + 12);
  fs.writeFileSync(dest, buf);
}

// Overwrites the value of a u32 key (the bytes after its type field).
function setU32(src: string, dest: string, key: string, value: number) {
  const buf = fs.readFileSync(src);
  const k = Buffer.from(key, 'utf8');
  const needle = Buffer.alloc(8 + k.length);
  needle.writeBigUInt64LE(BigInt(k.length), 0);
  k.copy(needle, 8);
  const at = buf.indexOf(needle);
  if (at < 0 || buf.readUInt32LE(at + needle.length) !== GGUF_TYPE.UINT32) throw new Error(`no u32 key ${key}`);
  buf.writeUInt32LE(value, at + needle.length + 4);
  fs.writeFileSync(dest, buf);
}

function renameTensor(src: string, dest: string, name: string, to: string) {
  if (to.length !== name.length) throw new Error('same length only');
  const buf = fs.readFileSync(src);
  const p = tensorInfoAt(buf, name);
  buf.write(to, p - name.length, 'utf8');
  fs.writeFileSync(dest, buf);
}

t.test('broken encoders files are load errors naming the file and the key or tensor', async (t) => {
  const files = await tinyConverted('f32');
  const dir = tempDir('ggpt-bad-enc-');
  const size = fs.statSync(files.encoders).size;
  const cases: [string, (dest: string) => void, RegExp][] = [
    ['truncated', (d) => truncateCopy(files.encoders, d, size - 4096), /truncated: tensor '[^']+' ends at byte/],
    ['truncated header', (d) => truncateCopy(files.encoders, d, 64), /not a valid GGUF file/],
    [
      'wrong tensor shape',
      (d) => swapDims(files.encoders, d, 'eva.blk.1.ffn_up.weight'),
      /tensor 'eva\.blk\.1\.ffn_up\.weight' has shape \[\d+, \d+\], expected \[\d+, \d+\]/,
    ],
    [
      'missing tensor',
      (d) => renameTensor(files.encoders, d, 'imagebind.blk.0.attn_bias_k', 'imagebind.blk.0.attn_bias_q'),
      /missing tensor 'imagebind\.blk\.0\.attn_bias_k'/,
    ],
    ['wrong key type', (d) => retypeKey(files.encoders, d, 'ggpt.eva.head_count', GGUF_TYPE.FLOAT32), /key 'ggpt\.eva\.head_count' has type f32, expected u32/],
    ['key out of range', (d) => setU32(files.encoders, d, 'ggpt.video.max_frames', 0), /key 'ggpt\.video\.max_frames' = 0 must be in \[1, 1024\]/],
    [
      'inconsistent keys',
      (d) => setU32(files.encoders, d, 'ggpt.qformer.head_count', 3),
      /'ggpt\.qformer\.head_count' = 3 does not divide 'ggpt\.qformer\.embedding_length'/,
    ],
  ];
  for (const [what, make, re] of cases) {
    const dest = path.join(dir, `${what.replace(/ /g, '_')}.gguf`);
    make(dest);
    const err = await open({ llm: files.llm, encoders: dest }).then(
      (m) => {
        void m.dispose();
        return undefined;
      },
      (e: unknown) => e as Error & { code?: string },
    );
    t.ok(err, `${what}: load fails`);
    if (!err) continue;
    t.equal(err.code, 'FORMAT', `${what}: code`);
    t.match(err.message, re, `${what}: message`);
    t.ok(err.message.includes(dest), `${what}: names the file`);
  }
  // the process is alive and a good file still loads
  const nm = await open(files);
  t.same(nm.info().hasMedia, [true, true, true]);
  await nm.dispose();
});

t.test('bad inputs are invalid-argument errors and the model stays usable', async (t) => {
  const files = await tinyConverted('f32');
  const nm = await open(files);
  t.teardown(() => nm.dispose());
  const cancel = () => addon.createCancel();
  const rejects = async (what: string, p: Promise<unknown>, code: string, re: RegExp) => {
    const e = (await p.then(
      () => undefined,
      (x: unknown) => x,
    )) as (Error & { code?: string }) | undefined;
    t.ok(e, `${what}: rejects`);
    t.equal(e?.code, code, `${what}: code`);
    t.match(e?.message ?? '', re, `${what}: message`);
  };
  const frame = new Uint8Array(224 * 224 * 3).fill(128);
  const fbank = new Float32Array(3 * 128 * 204);
  await rejects('0x0 image', nm.encodeImage(new Uint8Array(0), 0, 0, 0, cancel()), 'INVALID_ARGUMENT', /no pixels/);
  await rejects('short rgb', nm.encodeImage(new Uint8Array(10), 4, 4, 12, cancel()), 'INVALID_ARGUMENT', /needs 48/);
  await rejects('no frames', nm.encodeVideo([], cancel()), 'INVALID_ARGUMENT', /0 frames, expected 1 to 64/);
  await rejects('65 frames', nm.encodeVideo(Array(65).fill(frame), cancel()), 'INVALID_ARGUMENT', /65 frames, expected 1 to 64/);
  await rejects('wrong frame size', nm.encodeVideo([new Uint8Array(100)], cancel()), 'INVALID_ARGUMENT', /frame 0 holds 100 bytes/);
  await rejects('wrong fbank length', nm.encodeAudio(new Float32Array(100), 3, cancel()), 'INVALID_ARGUMENT', /fbank holds 100 floats, expected 3 clips/);
  await rejects('0 clips', nm.encodeAudio(new Float32Array(0), 0, cancel()), 'INVALID_ARGUMENT', /clips must be an integer/);
  const nan = fbank.slice();
  nan[5] = NaN;
  await rejects('NaN fbank', nm.encodeAudio(nan, 3, cancel()), 'INVALID_ARGUMENT', /not finite/);
  await rejects('unknown probe', nm.probe('audio', { fbank, clips: 3 }, 'nope', cancel()), 'INVALID_ARGUMENT', /unknown audio probe 'nope'/);
  const aborted = cancel();
  aborted.cancel();
  await rejects('cancelled encode', nm.encodeVideo([frame, frame], aborted), 'ABORTED', /abort/);
  // still usable: same result as a fresh call
  const a = await nm.encodeAudio(fbank, 3, cancel());
  const b = await nm.encodeAudio(fbank, 3, cancel());
  t.equal(a.length, info(nm).rows[2] * info(nm).nEmbd);
  t.same(a, b, 'deterministic after errors');
  const v = await nm.encodeVideo([frame], cancel());
  t.equal(v.length, info(nm).rows[1] * info(nm).nEmbd, 'a one-frame video works');
});

function info(nm: NativeModel) {
  const i = nm.info();
  return { rows: i.mediaRows, nEmbd: i.nEmbd };
}
