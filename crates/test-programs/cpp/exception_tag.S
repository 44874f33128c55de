# The tag that clang's Wasm exception handling throws C++ exceptions with: one i32, the address of
# the exception object. Since LLVM 22 (llvm/llvm-project#159143) an object file that throws no
# longer defines it weakly itself; compiler-rt's builtins do (#160959,
# compiler-rt/lib/builtins/wasm/__cpp_exception.S). zig 0.17's own compiler-rt, written in Zig,
# has no such definition, so the C++ test programs link this one: the same three lines.
.tagtype __cpp_exception i32
.globl __cpp_exception
__cpp_exception:
