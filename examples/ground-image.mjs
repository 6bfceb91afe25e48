// Ask about an image and draw the boxes the model answers with.
//   node examples/ground-image.mjs <model dir> <image> ["<prompt>"] [out.png]
import { drawBoxes, loadModel } from 'groundinggpt';

const [dir, image, prompt = 'Please describe the image and include the object positions in [x0, y0, x1, y1] format.', out] = process.argv.slice(2);
if (!dir || !image) {
  console.error('usage: node examples/ground-image.mjs <model dir> <image> ["<prompt>"] [out.png]');
  process.exit(2);
}

const model = await loadModel({ model: dir });
try {
  const result = await model.groundImage(image, prompt, {
    onToken: (piece) => process.stdout.write(piece), // the answer as it is generated
  });
  process.stdout.write('\n');
  for (const { phrase, box } of result.boxes) {
    console.log(`${phrase || '(no phrase)'}: x ${box.x1.toFixed(0)}..${box.x2.toFixed(0)}, y ${box.y1.toFixed(0)}..${box.y2.toFixed(0)} px`);
  }
  const t = result.timings;
  console.log(
    `decode ${t.decodeMs.toFixed(0)} ms, encode ${t.encodeMs.toFixed(0)} ms, prompt ${t.promptMs.toFixed(0)} ms, ` +
      `${t.generatedTokens} tokens at ${t.generateTokensPerSecond.toFixed(1)} tokens/s`,
  );
  if (out) {
    await drawBoxes(image, result.boxes, out);
    console.log(`wrote ${out}`);
  }
} finally {
  await model.dispose();
}
