// The C symbols that libculvert-preload.so exports in place of libc's: one forwarder per row
// of symbols.hpp into the routing core (interposer.cpp). Only these names leave the library
// (the linker version script is generated from the same table).
#include "client/preload/interposer.hpp"
#include "client/preload/real_libc.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdarg>

// With _FILE_OFFSET_BITS=64 glibc's headers rename fcntl to fcntl64 and our `fcntl` would
// define fcntl64 twice; this file must see the plain names.
#if defined(__USE_FILE_OFFSET64)
#error "exports.cpp must be compiled without _FILE_OFFSET_BITS=64"
#endif
#if defined(__USE_FORTIFY_LEVEL) && __USE_FORTIFY_LEVEL > 0
#error "exports.cpp must be compiled without _FORTIFY_SOURCE (it defines read, recv, ...)"
#endif

#define CULVERT_EXPORT __attribute__((visibility("default")))

// Defining these where glibc's headers declared them makes the compiler check each row's
// prototype against libc's.
#define CULVERT_EXPORT_FIXED(ret, name, params, args, culvert_if, fallback) \
    extern "C" CULVERT_EXPORT ret name params {                             \
        return culvert::preload::wrap::name args;                           \
    }
#define CULVERT_EXPORT_VARIADIC(ret, name, params, last, args, culvert_if, fallback) \
    extern "C" CULVERT_EXPORT ret name(CULVERT_PRELOAD_STRIP params, ...) {          \
        va_list ap;                                                                  \
        va_start(ap, last);                                                          \
        ret result = culvert::preload::wrap::name(CULVERT_PRELOAD_STRIP args, ap);   \
        va_end(ap);                                                                  \
        return result;                                                               \
    }
CULVERT_PRELOAD_FIXED(CULVERT_EXPORT_FIXED)
CULVERT_PRELOAD_VARIADIC(CULVERT_EXPORT_VARIADIC)
#undef CULVERT_EXPORT_FIXED
#undef CULVERT_EXPORT_VARIADIC

namespace {

// Resolves the libc pointers at load time, before main, so that no later call (one from a
// signal handler, say) has to enter dlsym. Quiet: resolution never fails loudly, a missing
// symbol keeps its syscall fallback, and everything would also resolve lazily without this.
[[gnu::constructor]] void culvert_preload_load() {
    culvert::preload::libc::resolve_all();
}

}  // namespace
