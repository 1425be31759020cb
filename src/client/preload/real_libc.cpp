// Lazy, thread-safe resolution of the next libc definition of each interposed symbol, and
// the raw-syscall fallbacks used when that definition is missing or cannot be looked up yet.
#include "client/preload/real_libc.hpp"

#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <type_traits>

extern "C" [[noreturn]] void __chk_fail(void);

namespace culvert::preload::libc {
namespace {

// One resolved pointer per symbol. constinit: no global constructor, usable before main.
struct Slot {
    const char* name;
    std::atomic<void*> fn{nullptr};
};

// Marks a symbol that dlsym could not find, so we do not ask again on every call.
char missing_tag;

// Set while this thread is inside dlsym: if dlsym re-enters a wrapper (an interposed malloc
// that reads a file, say), that wrapper must not call dlsym again; it takes the syscall.
// initial-exec: reading it never allocates (the library is loaded at startup by LD_PRELOAD).
thread_local bool t_resolving [[gnu::tls_model("initial-exec")]] = false;

void* resolve(Slot& slot) {
    void* fn = slot.fn.load(std::memory_order_acquire);
    if (fn != nullptr) [[likely]] {
        return fn == &missing_tag ? nullptr : fn;
    }
    if (t_resolving) {
        return nullptr;
    }
    t_resolving = true;
    fn = dlsym(RTLD_NEXT, slot.name);
    t_resolving = false;
    // Racing threads store the same value; release pairs with the acquire above.
    slot.fn.store(fn != nullptr ? fn : &missing_tag, std::memory_order_release);
    return fn;
}

template <class T>
long as_syscall_arg(T value) {
    if constexpr (std::is_pointer_v<T>) {
        return reinterpret_cast<long>(value);
    } else if constexpr (std::is_null_pointer_v<T>) {
        return 0;
    } else {
        return static_cast<long>(value);
    }
}

template <class... A>
long raw(long number, A... args) {
    return ::syscall(number, as_syscall_arg(args)...);
}

[[noreturn]] long chk_fail() {
    __chk_fail();
}

#define CULVERT_LIBC_SLOT_FIXED(ret, name, params, args, culvert_if, fallback) \
    constinit Slot name##_slot{#name};
#define CULVERT_LIBC_SLOT_VARIADIC(ret, name, params, last, args, culvert_if, fallback) \
    constinit Slot name##_slot{#name};
CULVERT_PRELOAD_FIXED(CULVERT_LIBC_SLOT_FIXED)
CULVERT_PRELOAD_VARIADIC(CULVERT_LIBC_SLOT_VARIADIC)
#undef CULVERT_LIBC_SLOT_FIXED
#undef CULVERT_LIBC_SLOT_VARIADIC

}  // namespace

#define CULVERT_LIBC_DEFINE_FIXED(ret, name, params, args, culvert_if, fallback) \
    ret name params {                                                            \
        using Fn = ret(*) params;                                                \
        if (void* fn = resolve(name##_slot)) [[likely]] {                        \
            return reinterpret_cast<Fn>(fn) args;                                \
        }                                                                        \
        return static_cast<ret>(fallback);                                       \
    }
// Called through its variadic type: calling a `...` function through a fixed prototype is
// undefined (the x86-64 ABI wants %al set for variadic calls).
#define CULVERT_LIBC_DEFINE_VARIADIC(ret, name, params, last, args, culvert_if, fallback) \
    ret name(CULVERT_PRELOAD_STRIP params, void* arg) {                                   \
        using Fn = ret (*)(CULVERT_PRELOAD_STRIP params, ...);                            \
        if (void* fn = resolve(name##_slot)) [[likely]] {                                 \
            return reinterpret_cast<Fn>(fn)(CULVERT_PRELOAD_STRIP args, arg);             \
        }                                                                                 \
        return static_cast<ret>(fallback);                                                \
    }
CULVERT_PRELOAD_FIXED(CULVERT_LIBC_DEFINE_FIXED)
CULVERT_PRELOAD_VARIADIC(CULVERT_LIBC_DEFINE_VARIADIC)
#undef CULVERT_LIBC_DEFINE_FIXED
#undef CULVERT_LIBC_DEFINE_VARIADIC

void resolve_all() {
#define CULVERT_LIBC_RESOLVE(ret, name, ...) resolve(name##_slot);
    CULVERT_PRELOAD_FIXED(CULVERT_LIBC_RESOLVE)
    CULVERT_PRELOAD_VARIADIC(CULVERT_LIBC_RESOLVE)
#undef CULVERT_LIBC_RESOLVE
}

}  // namespace culvert::preload::libc
