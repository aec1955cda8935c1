#!/usr/bin/env node
// The mote executable: the main thread hosts the worker (worker.ts) that runs the command (main.ts).
import { isMainThread } from 'node:worker_threads';
import { main } from './main.js';
import { runInWorker, workerMain } from './worker.js';

if (isMainThread) process.exitCode = await runInWorker(new URL(import.meta.url), process.argv);
else await workerMain(main);
