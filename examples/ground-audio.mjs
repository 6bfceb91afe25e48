// Ask about a sound; with an image, ask where the sound comes from (boxes on the image).
//   node examples/ground-audio.mjs <model dir> <audio> [image]
import { loadModel } from 'groundinggpt';

const [dir, audio, image] = process.argv.slice(2);
if (!dir || !audio) {
  console.error('usage: node examples/ground-audio.mjs <model dir> <audio> [image]');
  process.exit(2);
}

const model = await loadModel({ model: dir });
try {
  if (image) {
    const prompt = "Where is the sound's point of emission in this image? Include the object positions in [x0, y0, x1, y1] format.";
    const result = await model.groundAudio(audio, prompt, { image });
    console.log(result.text);
    for (const { phrase, box } of result.boxes) console.log(`${phrase}: [${[box.x1, box.y1, box.x2, box.y2].map((v) => v.toFixed(0)).join(', ')}] px`);
  } else {
    const result = await model.groundAudio(audio, 'What is making this sound?');
    console.log(result.text);
    console.log('clips heard:', result.audio.clips.map((c) => `${c.start.toFixed(2)}-${c.end.toFixed(2)} s`).join(', '));
  }
} finally {
  await model.dispose();
}
