// The next definition of every interposed libc function (dlsym(RTLD_NEXT)), resolved lazily
// and thread-safely, with a raw-syscall fallback. The interposer calls these for everything
// that is not a culvert socket. Generated from symbols.hpp.
#pragma once

#include "client/preload/symbols.hpp"

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

namespace culvert::preload::libc {

#define CULVERT_LIBC_DECLARE_FIXED(ret, name, params, args, culvert_if, fallback) ret name params;
#define CULVERT_LIBC_DECLARE_VARIADIC(ret, name, params, last, args, culvert_if, fallback) \
    ret name(CULVERT_PRELOAD_STRIP params, void* arg);
CULVERT_PRELOAD_FIXED(CULVERT_LIBC_DECLARE_FIXED)
CULVERT_PRELOAD_VARIADIC(CULVERT_LIBC_DECLARE_VARIADIC)
#undef CULVERT_LIBC_DECLARE_FIXED
#undef CULVERT_LIBC_DECLARE_VARIADIC

// Resolves every symbol now (the library's constructor calls it, so that a first call from a
// signal handler finds its pointer ready instead of entering dlsym). Never fails: a symbol
// that does not resolve keeps its syscall fallback.
void resolve_all();

}  // namespace culvert::preload::libc
