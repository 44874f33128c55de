// A WASI 0.2 command: `skiff run` calls `run.run` once (the wasi:cli/run export).
export const run = {
  run() {
    console.log("Hello from JavaScript!");
  },
};
