// Fibers over makecontext/swapcontext (fiber.hpp), with a guard page under each stack.
#include "sim/fiber.hpp"

#include <sys/mman.h>

#include <cassert>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define CULVERT_ASAN_FIBERS 1
#else
#define CULVERT_ASAN_FIBERS 0
#endif

namespace culvert::sim {

namespace {

thread_local Fiber* t_current = nullptr;
constexpr size_t kGuardBytes = 4096;

void start_switch(void** fake_stack, const void* bottom, size_t size) {
#if CULVERT_ASAN_FIBERS
    __sanitizer_start_switch_fiber(fake_stack, bottom, size);
#else
    (void)fake_stack, (void)bottom, (void)size;
#endif
}

void finish_switch(void* fake_stack, const void** bottom, size_t* size) {
#if CULVERT_ASAN_FIBERS
    __sanitizer_finish_switch_fiber(fake_stack, bottom, size);
#else
    (void)fake_stack, (void)bottom, (void)size;
#endif
}

}  // namespace

Fiber::Fiber(std::function<void()> body, size_t stack_bytes)
    : body_(std::move(body)), stack_bytes_(stack_bytes) {
    void* mem = mmap(nullptr, stack_bytes_ + kGuardBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) {
        std::perror("culvert sim: fiber stack");
        std::abort();
    }
    mprotect(mem, kGuardBytes, PROT_NONE);  // overflow faults instead of corrupting
    stack_ = mem;
}

Fiber::~Fiber() {
    assert(t_current != this);
    munmap(stack_, stack_bytes_ + kGuardBytes);
}

Fiber* Fiber::current() {
    return t_current;
}

void Fiber::trampoline(unsigned hi, unsigned lo) {
    auto* self = reinterpret_cast<Fiber*>(static_cast<uintptr_t>(hi) << 32 | lo);
    finish_switch(nullptr, &self->caller_bottom_, &self->caller_size_);
    self->body_();
    self->finished_ = true;
    t_current = nullptr;
    // The fiber is done: nullptr tells ASan to forget its fake stack.
    start_switch(nullptr, self->caller_bottom_, self->caller_size_);
    setcontext(&self->caller_);
}

void Fiber::resume() {
    assert(t_current == nullptr && !finished_);
    if (!started_) {
        started_ = true;
        getcontext(&context_);
        context_.uc_stack.ss_sp = static_cast<char*>(stack_) + kGuardBytes;
        context_.uc_stack.ss_size = stack_bytes_;
        context_.uc_link = nullptr;
        const auto p = reinterpret_cast<uintptr_t>(this);
        makecontext(&context_, reinterpret_cast<void (*)()>(&Fiber::trampoline), 2,
                    static_cast<unsigned>(p >> 32), static_cast<unsigned>(p & 0xffffffffu));
    }
    t_current = this;
    void* fake = nullptr;
    start_switch(&fake, static_cast<char*>(stack_) + kGuardBytes, stack_bytes_);
    swapcontext(&caller_, &context_);
    finish_switch(fake, nullptr, nullptr);
    t_current = nullptr;
}

void Fiber::yield() {
    Fiber* self = t_current;
    assert(self != nullptr);
    t_current = nullptr;
    start_switch(&self->fake_stack_, self->caller_bottom_, self->caller_size_);
    swapcontext(&self->context_, &self->caller_);
    finish_switch(self->fake_stack_, &self->caller_bottom_, &self->caller_size_);
    t_current = self;
}

}  // namespace culvert::sim
