// Ask when something happens in a video: {s, e} spans in the answer come back in seconds.
//   node examples/ground-video.mjs <model dir> <video> ["<prompt>"]
import { loadModel } from 'groundinggpt';

const [dir, video, prompt = 'When does the person open the door?'] = process.argv.slice(2);
if (!dir || !video) {
  console.error('usage: node examples/ground-video.mjs <model dir> <video> ["<prompt>"]');
  process.exit(2);
}

const model = await loadModel({ model: dir });
try {
  const result = await model.groundVideo(video, prompt, {
    onProgress: ({ stage, fraction }) => process.stderr.write(`\r${stage} ${(fraction * 100).toFixed(0)}%   `),
  });
  process.stderr.write('\n');
  console.log(result.text);
  for (const s of result.segments) console.log(`${s.phrase || '(no phrase)'}: ${s.start.toFixed(1)} s to ${s.end.toFixed(1)} s`);
  console.log(`${result.video.sampledFrames.length} of ${result.video.frameCount} frames, ${result.video.duration.toFixed(1)} s`);
} finally {
  await model.dispose();
}
