/** Registration of every command module except eval (kept separate so modules can be added independently). */
import type { Command } from 'commander';
import { registerCampaign } from './campaign.js';
import { registerHarden, registerOverhead } from './harden.js';
import { registerFaults } from './faults.js';
import { registerReport } from './report.js';
import { registerWorker } from './queue.js';
import { registerTrain } from './train.js';
import { registerDemo } from './demo.js';

export function registerAll(program: Command): void {
  registerCampaign(program);
  registerHarden(program);
  registerOverhead(program);
  registerFaults(program);
  registerReport(program);
  registerWorker(program);
  registerTrain(program);
  registerDemo(program);
}
