// The valid files the attack corpus corrupts, made once by the test process: the tiny golden
// model converted to f32, small images in four formats (sharp), short videos and sounds (ffmpeg).
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { tinyDir, tempDir } from '../helpers/golden';
import { tinyConverted } from '../helpers/converted';
import { FFMPEG, makeMedia, makePng, makeWav } from '../helpers/media';
import type { AttackEnv } from './case';

export async function makeFixtures(): Promise<AttackEnv> {
  const tiny = await tinyConverted('f32');
  const dir = tempDir('ggpt-attack-');
  const media = path.join(dir, 'media');
  fs.mkdirSync(media);
  const w = 48;
  const h = 32;
  const rgb = Buffer.alloc(w * h * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37) & 0xff;
  const img = () => sharp(rgb, { raw: { width: w, height: h, channels: 3 } });
  const file = (name: string) => path.join(media, name);
  await img().jpeg({ quality: 80 }).toFile(file('a.jpg'));
  await img().webp({ quality: 80 }).toFile(file('a.webp'));
  await img().gif().toFile(file('a.gif'));
  fs.writeFileSync(file('a.png'), makePng(w, h, 3, 8, rgb));
  const samples = Array.from({ length: 16000 }, (_, i) => Math.round(8000 * Math.sin(i / 9)));
  fs.writeFileSync(file('a.wav'), makeWav(16000, 1, samples, 'int16'));
  fs.writeFileSync(
    file('f.wav'),
    makeWav(
      22050,
      2,
      samples.map((v) => v / 40000),
      'float32',
    ),
  );
  const lavfiVideo = ['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10:duration=1'];
  makeMedia(media, 'a.mp4', [
    ...lavfiVideo,
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:duration=1',
    '-shortest',
    '-pix_fmt',
    'yuv420p',
    '-c:v',
    'mpeg4',
    '-c:a',
    'aac',
  ]);
  makeMedia(media, 'silent.mp4', [...lavfiVideo, '-pix_fmt', 'yuv420p', '-c:v', 'mpeg4']);
  makeMedia(media, 'a.mkv', [...lavfiVideo, '-pix_fmt', 'yuv420p', '-c:v', 'mpeg4']);
  makeMedia(media, 'a.mp3', ['-f', 'lavfi', '-i', 'sine=frequency=300:duration=2', '-c:a', 'libmp3lame', '-b:a', '32k']);
  return {
    modelDir: path.dirname(tiny.llm),
    llm: tiny.llm,
    encoders: tiny.encoders,
    upstreamModel: path.join(tinyDir, 'groundinggpt'),
    upstreamClip: path.join(tinyDir, 'clip'),
    media: {
      jpeg: file('a.jpg'),
      png: file('a.png'),
      webp: file('a.webp'),
      gif: file('a.gif'),
      mp4: file('a.mp4'),
      mkv: file('a.mkv'),
      wav: file('a.wav'),
      wavFloat: file('f.wav'),
      mp3: file('a.mp3'),
      silentMp4: file('silent.mp4'),
    },
    ffmpeg: FFMPEG,
    work: dir,
  };
}
