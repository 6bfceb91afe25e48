// Importing this module first puts the test process in "ffmpeg only" mode, the situation of a user
// whose only ffmpeg is ffmpeg-static's (it ships no ffprobe): FFMPEG_PATH names a link to the
// system ffmpeg in a folder without ffprobe, PATH is that folder alone and FFPROBE_PATH is unset,
// so no ffprobe is reachable and every probe falls back to ffmpeg (src/media/probe.ts). The
// system ffprobe stays reachable through the ffprobePath option (SYSTEM_FFPROBE), which wins.
import fs from 'node:fs';
import path from 'node:path';
import { resolveFFmpeg } from '../../src/media/ffmpeg';
import { tempDir } from './golden';
import { FFMPEG } from './media';

const realFFmpeg = fs.realpathSync(FFMPEG);
/** The system ffprobe (next to the system ffmpeg), for comparisons. */
export const SYSTEM_FFPROBE = path.join(path.dirname(realFFmpeg), 'ffprobe');

const dir = tempDir('ggpt-ffmpeg-only-');
/** The ffmpeg link this mode uses. */
export const LONE_FFMPEG = path.join(dir, 'ffmpeg');
fs.symlinkSync(realFFmpeg, LONE_FFMPEG);
process.env.FFMPEG_PATH = LONE_FFMPEG;
process.env.PATH = dir;
delete process.env.FFPROBE_PATH;

const r = resolveFFmpeg();
if (r.ffmpeg !== LONE_FFMPEG || r.ffprobe !== undefined) throw new Error(`ffmpeg-only mode not reached: ${JSON.stringify(r)}`);
