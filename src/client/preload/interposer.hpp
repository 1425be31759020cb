// The routing core of libculvert-preload.so: for each interposed call, decide whether it
// belongs to culvert (a culvert fd, or a socket() culvert serves) and run the culvert side
// through culvert::client::Client, else call the next libc definition. The exported C symbols
// (exports.cpp) are one-line forwarders to wrap::*; tests call wrap::* directly, with a fake
// Client, and no LD_PRELOAD.
#pragma once

#include "client/preload/symbols.hpp"

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include <cstdarg>

namespace culvert::preload {

// True if `fd` is a culvert socket. Always false inside a Client call on this thread, so
// that the Client's own libc calls (on its control socket, eventfds, the app fd it closes)
// reach the kernel instead of re-entering it.
bool culvert_fd(int fd);
// True if culvert serves this kind of socket (culvert::client::serves); false inside a
// Client call, like culvert_fd.
bool culvert_socket(int domain, int type, int protocol);

// The entry points, one per table row: route, then run the culvert or the libc side.
// Variadic libc functions take their optional argument as a va_list here, read once.
namespace wrap {
#define CULVERT_WRAP_DECLARE_FIXED(ret, name, params, args, culvert_if, fallback) ret name params;
#define CULVERT_WRAP_DECLARE_VARIADIC(ret, name, params, last, args, culvert_if, fallback) \
    ret name(CULVERT_PRELOAD_STRIP params, va_list ap);
CULVERT_PRELOAD_FIXED(CULVERT_WRAP_DECLARE_FIXED)
CULVERT_PRELOAD_VARIADIC(CULVERT_WRAP_DECLARE_VARIADIC)
#undef CULVERT_WRAP_DECLARE_FIXED
#undef CULVERT_WRAP_DECLARE_VARIADIC
}  // namespace wrap

// The culvert side of each call, written by hand in interposer.cpp: how a libc call maps onto
// the Client API (send/recv variants onto sendmsg/recvmsg, errors onto -1/errno, SIGPIPE).
namespace on_culvert {
#define CULVERT_ON_CULVERT_DECLARE_FIXED(ret, name, params, args, culvert_if, fallback) \
    ret name params;
#define CULVERT_ON_CULVERT_DECLARE_VARIADIC(ret, name, params, last, args, culvert_if, fallback) \
    ret name(CULVERT_PRELOAD_STRIP params, void* arg);
CULVERT_PRELOAD_FIXED(CULVERT_ON_CULVERT_DECLARE_FIXED)
CULVERT_PRELOAD_VARIADIC(CULVERT_ON_CULVERT_DECLARE_VARIADIC)
#undef CULVERT_ON_CULVERT_DECLARE_FIXED
#undef CULVERT_ON_CULVERT_DECLARE_VARIADIC
}  // namespace on_culvert

// sendfile() on a culvert socket reads the file in chunks of this size (on the caller's stack:
// no allocation on the data path) and sends each with Client::sendmsg.
inline constexpr size_t sendfile_chunk_bytes = 16 * 1024;

}  // namespace culvert::preload
