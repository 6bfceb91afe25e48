/**
 * Command-line options that load a model, shared by the commands that take them (src/cli.ts's
 * image/video/audio/chat/eval and src/serve/command.ts); cliModel in src/cli.ts reads them.
 */
export const MODEL_LOAD_OPTIONS = {
  threads: { type: 'string' },
  'gpu-layers': { type: 'string' },
  rpc: { type: 'string' },
  'tower-device': { type: 'string' },
  'context-size': { type: 'string' },
  'tower-matmul': { type: 'string' },
  ffmpeg: { type: 'string' },
  ffprobe: { type: 'string' },
} as const;
