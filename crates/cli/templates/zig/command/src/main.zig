//! A WASI command: `skiff run` calls main once and passes on its exit code.
const std = @import("std");

pub fn main(init: std.process.Init) !void {
    var buffer: [256]u8 = undefined;
    var stdout = std.Io.File.stdout().writer(init.io, &buffer);
    try stdout.interface.print("Hello from {s}!\n", .{"Zig"});
    try stdout.interface.flush();
}
