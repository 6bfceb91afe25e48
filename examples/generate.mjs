// Text-only generation in GroundingGPT's chat template, streamed.
//   node examples/generate.mjs <model dir> ["<question>"]
import { loadModel } from 'groundinggpt';

const [dir, question = 'What is the capital of France?'] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node examples/generate.mjs <model dir> ["<question>"]');
  process.exit(2);
}

const model = await loadModel({ model: dir });
try {
  const stream = model.generateStream(question, { maxTokens: 128 });
  for await (const piece of stream) process.stdout.write(piece);
  const { timings } = await stream.result;
  console.log(`\n${timings.generatedTokens} tokens, ${timings.generateTokensPerSecond.toFixed(1)} tokens/s`);
} finally {
  await model.dispose();
}
