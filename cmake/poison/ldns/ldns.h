// Layering guard: put first on the include path of src/util and src/config.
#error                                                                                             \
    "ldns belongs to src/dns (through dns/ldns.hpp) and above (see the Design section of README.md)"
