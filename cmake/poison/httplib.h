// Layering guard: put first on the include path of the libraries below src/server, src/sim,
// src/ctl.
#error "HTTP belongs to src/server, src/sim and src/ctl only (see the Design section of README.md)"
