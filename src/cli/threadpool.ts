// Why this file exists: libuv's thread pool (4 threads unless told) runs LevelDB's reads, writes
// and syncs, and scrypt. On a loaded machine a sync can take a second (issue 20's online bench:
// slow_persist up to 980 ms), so two syncs and two derivations filled the pool and every other
// store read waited behind them. main.ts imports this first: the pool reads the variable once,
// when first used, and an operator's own setting wins.

process.env.UV_THREADPOOL_SIZE ??= '16';
