// A node --test reporter that writes one JSON line per skipped test (file, name, reason), for
// scripts/test.mjs to list at the end of the run.
import { relative } from 'node:path';

export default async function* skipReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' || event.data.skip === undefined) continue;
    const { file, name, skip } = event.data;
    yield `${JSON.stringify({ file: file ? relative(process.cwd(), file) : '?', name, reason: typeof skip === 'string' ? skip : '(no reason given)' })}\n`;
  }
}
