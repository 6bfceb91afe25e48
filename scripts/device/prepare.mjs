// Part of scripts/device/pack.sh (runs here, where Node and ffmpeg are): converts the tiny golden
// checkpoint to f32 GGUF with the project's converter and decodes dog_audio.wav with ffmpeg, the
// way the tests do, so that the device machine needs neither the checkpoint nor ffmpeg.
//   node scripts/device/prepare.mjs <golden dir> <out dir>
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { convert } = require('../../lib/convert/index.js');
const { decodeAudio } = require('../../lib/index.js');
const [golden, out] = process.argv.slice(2);

const tiny = path.join(golden, 'tiny');
await convert({ model: path.join(tiny, 'groundinggpt'), clip: path.join(tiny, 'clip'), out: path.join(out, 'tiny'), type: 'f32' });

const a = await decodeAudio(path.join(golden, 'media', 'dog_audio.wav'));
const n = a.channels[0].length;
const pcm = new Float32Array(a.channels.length * n);
a.channels.forEach((c, i) => {
  pcm.set(c, i * n);
});
fs.writeFileSync(path.join(out, 'dog_audio.f32'), pcm);
fs.writeFileSync(path.join(out, 'dog_audio.json'), JSON.stringify({ sampleRate: a.sampleRate, channels: a.channels.length, samples: n }));
console.log(`tiny f32 model and dog_audio (${a.channels.length} x ${n} at ${a.sampleRate} Hz) in ${out}`);
