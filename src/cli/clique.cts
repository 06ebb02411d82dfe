#!/usr/bin/env node
// Why this file exists: the `clique` command starts here, in CommonJS, before any ES module has
// loaded. libuv sizes its thread pool the first time it is used, and loading an ES module
// already uses it, so this is the one place the size can still be chosen. A tracker node's
// pool holds its LevelDB writes and syncs, its reads of groups' files and the archive, and up to
// two scrypt derivations (kdf.ts); libuv's default of four left two threads to the disk, and a
// Raft log sync that waited behind them held up the leader's heartbeats. The operator's own
// UV_THREADPOOL_SIZE wins.

process.env.UV_THREADPOOL_SIZE ??= '8';
void import('./main.js');
