// Layering guard: put first on the include path of every library below src/server.
#error "libuv belongs to src/server only (see the Design section of README.md): move the I/O there"
