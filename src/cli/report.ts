/** `proact report`: an HTML report with figures (SVG, PNG) from one or more campaign results stores. */
import type { Command } from 'commander';
import { guardOutputs } from '../util/outputs.js';
import { parseFloatOption, log } from './common.js';

interface ReportCli {
  out: string;
  thresholds?: string[];
  title?: string;
  confidence: number;
  scale: number;
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('write a self-contained HTML report (index.html) and SVG/PNG figures from campaign results stores')
    .argument('<stores...>', 'results databases written by proact campaign (several campaigns = several methods/models)')
    .option('--out <dir>', 'output folder', 'report')
    .option('--thresholds <files...>', 'extra thresholds JSON files to chart (shape: docs/report.md)')
    .option('--title <text>', 'page title')
    .option('--confidence <c>', 'confidence level of the intervals', parseFloatOption('--confidence'), 0.95)
    .option('--scale <s>', 'PNG pixels per SVG pixel', parseFloatOption('--scale'), 2)
    .action(async (stores: string[], o: ReportCli) => {
      // Loaded here, not at start-up: the plotting libraries are only needed by this command.
      guardOutputs([{ path: o.out, what: '--out', folder: true, createsFolder: true }], stores.map((path) => ({ path, what: 'store' })));
      const { writeReport } = await import('../report/index.js');
      const options: Parameters<typeof writeReport>[0] = { stores, outDir: o.out, confidence: o.confidence, pngScale: o.scale };
      if (o.thresholds) options.thresholdFiles = o.thresholds;
      if (o.title) options.title = o.title;
      const r = await writeReport(options);
      for (const w of r.warnings) log(`note: ${w}`);
      log(`report of ${r.campaigns} campaign${r.campaigns === 1 ? '' : 's'}, ${r.figures.length} figure${r.figures.length === 1 ? '' : 's'} (SVG + PNG each)`);
      process.stdout.write(r.html + '\n');
    });
}
