// Counts the syscalls that the channel protocol and the kernel baselines make on the fds a
// benchmark tracks. channels_bench is linked with -Wl,--wrap=read,write,poll,send,recv and
// process_vm_writev, so every such call (ours and culvert_channels') passes through here.
#pragma once

#include <cstddef>
#include <cstdint>

namespace culvert::bench {

enum class FdKind : uint8_t { none, eventfd, socketpair, kernel_socket, count };
enum class Call : uint8_t { read, write, poll, send, recv, process_vm, count };

// Per process, not per thread: every benchmark process here is single-threaded.
struct SyscallCounts {
    static constexpr size_t kKinds = static_cast<size_t>(FdKind::count);
    static constexpr size_t kCalls = static_cast<size_t>(Call::count);
    uint64_t n[kKinds][kCalls];

    uint64_t of(FdKind kind, Call call) const {
        return n[static_cast<size_t>(kind)][static_cast<size_t>(call)];
    }
    uint64_t of(FdKind kind) const;  // every call on fds of this kind
    uint64_t total() const;          // every counted call, process_vm_writev included
};

// Count calls on fd as `kind` from now on (FdKind::none stops counting it).
void track_fd(int fd, FdKind kind);
void reset_syscall_counts();
SyscallCounts syscall_counts();

}  // namespace culvert::bench
