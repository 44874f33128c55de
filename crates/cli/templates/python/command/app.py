"""A WASI 0.2 command: `skiff run` calls `Run.run` once (the wasi:cli/run export)."""

from wit_world import exports


class Run(exports.Run):
    def run(self) -> None:
        print("Hello from Python!")
